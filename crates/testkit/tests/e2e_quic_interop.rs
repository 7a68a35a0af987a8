//! Interop with an independent QUIC stack: `tests/interop/quic_client.py`
//! (Python, aioquic) does the handshake on the first stream, joins an arena
//! room, moves with a datagram and waits for the patch; a WebSocket client in
//! the same room must see that move too.
//!
//! Skipped, with a message, only when `aioquic` cannot be imported *and* the
//! `CI` variable is unset; `.ci/run` installs it, so in CI it always runs.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use arbiter_testkit::TestServer;
use serde_json::json;

const T: Duration = Duration::from_secs(10);
/// Bound on the script's run (it bounds itself at 60 s too).
const SCRIPT_BOUND: Duration = Duration::from_secs(90);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/quic_client.py")
}

fn aioquic_available() -> bool {
    Command::new("python3")
        .args(["-c", "import aioquic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills the script if the test fails before it exits.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aioquic_client_handshakes_joins_and_moves_by_datagram() {
    if !aioquic_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have aioquic (`.ci/run` installs it with pip)"
        );
        eprintln!(
            "SKIPPED: python3 cannot import aioquic; install it with \
             `python3 -m pip install --user aioquic` to run the interop test"
        );
        return;
    }
    let server = TestServer::start_quic().await;
    let (addr, info) = server.quic.clone().expect("QUIC server");
    let observer = server.client("interop").await;
    observer
        .join_or_create("arena", Some("interop-1"), None)
        .await
        .expect("observer joins");

    let mut child = Command::new("python3")
        .arg(script())
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args([
            "--cert-sha256",
            &info.cert_sha256,
            "--room",
            "interop-1",
            "--hold",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut script_guard = Script(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = move || tokio::task::block_in_place(|| lines.recv_timeout(SCRIPT_BOUND).ok());

    let moved = next_line().expect("the script reports its move");
    let session = moved
        .strip_prefix("moved ")
        .unwrap_or_else(|| panic!("unexpected script output {moved:?}"))
        .to_owned();
    observer
        .wait_for_state(
            "interop-1",
            |s| s["players"][session.as_str()] == json!({ "x": 3, "y": 4 }),
            T,
        )
        .await
        .expect("the WebSocket observer sees the aioquic client's move");

    writeln!(stdin, "done").expect("tell the script to finish");
    drop(stdin);
    let last = next_line();
    assert_eq!(last.as_deref(), Some("interop ok"));
    let status = tokio::task::block_in_place(|| script_guard.0.wait()).expect("script exits");
    assert!(status.success(), "the script failed: {status}");
    // Its session ended with the connection: the observer sees it leave.
    observer
        .wait_for_state(
            "interop-1",
            |s| s["players"].get(session.as_str()).is_none(),
            T,
        )
        .await
        .expect("the aioquic session left");
}
