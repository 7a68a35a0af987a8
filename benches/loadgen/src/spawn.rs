//! [`SpawnedServer`]: a server binary (`arbiter` or `floor`) started by the
//! load generator, so that one command runs a whole measurement and the load
//! generator knows the server's pid.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{LoadgenError, Result};

/// How long a server may take to print its listening line (the first start
/// compiles the plugins).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    /// Its process id (the server's own, also when started through `taskset`,
    /// which execs).
    pub pid: u32,
    /// Where its WebSocket listener is.
    pub ws_addr: SocketAddr,
}

impl SpawnedServer {
    /// Starts `path` with loopback addresses on free ports
    /// (`--ws-addr 127.0.0.1:0 --quic-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0
    /// --log warn`) followed by `extra_args`, pinned to `cpus` (a `taskset -c`
    /// list) when given, and waits for its `… listening ws=ADDR …` line.
    pub fn start(path: &Path, extra_args: &[String], cpus: Option<&str>) -> Result<SpawnedServer> {
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(cpus).arg(path);
                cmd
            }
            None => Command::new(path),
        };
        cmd.args(["--ws-addr", "127.0.0.1:0"])
            .args(["--quic-addr", "127.0.0.1:0"])
            .args(["--admin-addr", "127.0.0.1:0"])
            .args(["--log", "warn"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .map_err(|e| LoadgenError::Spawn(format!("{}: {e}", path.display())))?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(LoadgenError::Spawn("no stdout pipe".into()));
        };
        match wait_for_listening(stdout) {
            Ok(ws_addr) => Ok(SpawnedServer {
                child,
                pid,
                ws_addr,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stdout (on a helper thread, so a silent server cannot hang us) until
/// the listening line.
fn wait_for_listening(stdout: ChildStdout) -> Result<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let found = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = parse_listening(&line) {
                        break Ok(addr);
                    }
                }
                Some(Err(e)) => break Err(e.to_string()),
                None => break Err("the server exited before listening".to_owned()),
            }
        };
        let _ = tx.send(found);
        // Keep reading so that the server never gets EPIPE on stdout.
        for _ in lines {}
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err(why)) => Err(LoadgenError::Spawn(why)),
        Err(_) => Err(LoadgenError::Spawn(
            "no `listening ws=…` line on stdout within 120 s".into(),
        )),
    }
}

/// The `ws=` address of a `NAME listening ws=ADDR [quic=ADDR] admin=… plugins=[…]`
/// line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    if !line.contains(" listening ") {
        return None;
    }
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("ws="))
        .and_then(|addr| addr.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line_of_both_servers() {
        let arbiter =
            "arbiter listening ws=127.0.0.1:4000 admin=127.0.0.1:9100 plugins=[arena,counter]";
        assert_eq!(
            parse_listening(arbiter),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        let floor = "floor listening ws=[::1]:4100 admin=none plugins=[]";
        assert_eq!(parse_listening(floor), Some("[::1]:4100".parse().unwrap()));
        let floor_quic =
            "floor listening ws=127.0.0.1:4100 quic=127.0.0.1:4434 admin=none plugins=[]";
        assert_eq!(
            parse_listening(floor_quic),
            Some("127.0.0.1:4100".parse().unwrap())
        );
        assert_eq!(parse_listening("ws=127.0.0.1:1"), None);
        assert_eq!(parse_listening("x listening ws=nope"), None);
    }
}
