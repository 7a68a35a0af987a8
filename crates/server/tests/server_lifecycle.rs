//! The `arbiter` binary's life: start on port 0, announce the real addresses on
//! stdout, serve the admin routes and a WebSocket client, drain on SIGTERM
//! (the client's room is closed) and exit 0; and the exit codes of a start
//! that cannot work. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream as AsyncTcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A safety net so a broken server fails the test instead of hanging it; not
/// a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);

/// The example plugins, built by `cargo xtask plugins` (CI runs it first).
fn plugins_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/plugins"));
    assert!(
        dir.join("counter.wasm").is_file(),
        "{} has no counter.wasm: run `cargo xtask plugins` first",
        dir.display()
    );
    dir
}

struct Server {
    child: Child,
    ws: SocketAddr,
    admin: SocketAddr,
    line: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let plugins = plugins_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["--ws-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["--quic-addr", "127.0.0.1:0"])
            .arg("--plugins-dir")
            .arg(&plugins)
            .args(extra)
            .env_clear()
            .env("ARBITER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn arbiter");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("arbiter printed no listening line");
            }
        };
        let field = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key} address in {line:?}"))
        };
        let (ws, admin) = (field("ws="), field("admin="));
        Server {
            child,
            ws,
            admin,
            line,
        }
    }

    fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(self.child.wait());
        });
        rx.recv_timeout(PATIENCE)
            .expect("arbiter exits after SIGTERM")
            .expect("wait for arbiter")
    }
}

/// `GET path` over HTTP/1.1; the status code and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to admin");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn starts_on_port_zero_serves_admin_and_stops_on_sigterm() {
    let server = Server::start(&[]);
    assert!(
        server.line.starts_with("arbiter listening ws=127.0.0.1:"),
        "{}",
        server.line
    );
    assert_ne!(server.ws.port(), 0, "the real port is printed");
    assert_ne!(server.admin.port(), 0, "the real port is printed");
    for room_type in ["arena", "counter", "tictactoe"] {
        assert!(
            server.line.contains(room_type),
            "{room_type} missing: {}",
            server.line
        );
    }

    let (status, _, body) = http_get(server.admin, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, head, body) = http_get(server.admin, "/metrics");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(body.contains("arbiter_handshakes_total"), "{body}");
    let (status, head, body) = http_get(server.admin, "/v1/rooms");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(body.starts_with('['), "{body}");
    assert_eq!(http_get(server.admin, "/nope").0, 404);
    TcpStream::connect(server.ws).expect("the WebSocket port accepts connections");

    let ws = server.ws;
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");
    assert!(
        TcpStream::connect(ws).is_err(),
        "listener closed after exit"
    );
}

#[test]
fn a_busy_port_exits_1_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["--ws-addr", &addr, "--admin-addr", "127.0.0.1:0"])
        .args(["--quic-addr", "127.0.0.1:0"])
        .arg("--plugins-dir")
        .arg(plugins_dir())
        .env_clear()
        .output()
        .expect("run arbiter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(output.stdout.is_empty(), "no listening line");
}

#[test]
fn a_missing_plugins_dir_exits_1_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["--ws-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--quic-addr", "127.0.0.1:0"])
        .args(["--plugins-dir", "/nonexistent/arbiter-plugins"])
        .env_clear()
        .output()
        .expect("run arbiter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/arbiter-plugins"), "{stderr}");
}

type Ws = WebSocketStream<MaybeTlsStream<AsyncTcpStream>>;

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send frame");
}

/// The next JSON frame of type `t` (others are skipped); `None` once the
/// connection ends without one.
async fn next_of_type(ws: &mut Ws, t: &str) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
                if frame["t"] == t {
                    return Some(frame);
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn sigterm_closes_the_rooms_of_connected_clients_then_exits_0() {
    let server = Server::start(&[]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.ws))
        .await
        .expect("WebSocket upgrade");
    send(
        &mut ws,
        json!({"v": 1, "t": "handshake", "p": {"v": 1, "codecs": ["json"], "project_id": "demo"}}),
    )
    .await;
    let ok = next_of_type(&mut ws, "handshake.ok")
        .await
        .expect("handshake.ok");
    assert_eq!(ok["p"]["codec"], "json");
    send(
        &mut ws,
        json!({"v": 1, "t": "room.join_or_create", "rid": "j1", "p": {"room_type": "counter"}}),
    )
    .await;
    let joined = next_of_type(&mut ws, "rpc.response")
        .await
        .expect("rpc.response");
    assert_eq!(joined["rid"], "j1");
    assert_eq!(joined["p"]["ok"], true, "{joined}");
    let room = joined["p"]["room"].as_str().expect("room id").to_owned();

    let (status, _, body) = http_get(server.admin, "/v1/rooms");
    assert_eq!(status, 200);
    let rooms: Vec<Value> = serde_json::from_str(&body).expect("JSON array");
    let listed = rooms
        .iter()
        .find(|r| r["room"] == room.as_str())
        .expect("our room listed");
    assert_eq!(listed["room_type"], "counter");
    assert_eq!(listed["project"], "demo");
    assert_eq!(listed["clients"], 1);
    let (_, _, text) = http_get(server.admin, "/metrics");
    assert_eq!(
        metric(&text, "arbiter_handshakes_total{result=\"ok\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "arbiter_rooms{room_type=\"counter\"}"),
        Some(1.0),
        "{text}"
    );

    let child_id = server.child.id();
    let waiter = tokio::task::spawn_blocking(move || server.terminate());
    let closed = next_of_type(&mut ws, "room.closed")
        .await
        .unwrap_or_else(|| panic!("no room.closed before the connection ended (pid {child_id})"));
    assert_eq!(closed["p"]["room"], room.as_str(), "{closed}");
    let status = waiter.await.expect("waiter thread");
    assert_eq!(status.code(), Some(0), "clean exit after the drain");
}
