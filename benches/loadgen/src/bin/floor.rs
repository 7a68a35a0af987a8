//! `floor`: the minimal reference server of WORKLOAD.md (see
//! `arbiter_loadgen::floor`). Takes the same address flags as `arbiter` and
//! prints the same kind of listening line, so `loadgen --spawn-server` runs
//! either:
//!
//! ```text
//! floor listening ws=127.0.0.1:4000 admin=none plugins=[]
//! ```
//!
//! With `--quic-addr` it also serves QUIC (a self-signed certificate, pinned
//! by clients through `handshake.ok`) and names it, like `arbiter`:
//!
//! ```text
//! floor listening ws=127.0.0.1:4000 quic=127.0.0.1:4434 admin=none plugins=[]
//! ```

use std::io::Write;
use std::process::ExitCode;

use arbiter_loadgen::{FloorOptions, FloorQuic, serve_floor};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The floor server's flags.
#[derive(Debug, Parser)]
#[command(
    name = "floor",
    about = "Minimal reference server: handshakes, joins, one patch-sized frame per client per tick"
)]
struct Args {
    /// WebSocket listener.
    #[arg(long, env = "ARBITER_WS_ADDR", default_value = "127.0.0.1:4000")]
    ws_addr: String,
    /// Accepted for compatibility with `arbiter`; the floor has no admin server.
    #[arg(long, env = "ARBITER_ADMIN_ADDR")]
    admin_addr: Option<String>,
    /// QUIC listener (UDP, self-signed certificate); none when absent.
    #[arg(long, env = "ARBITER_QUIC_ADDR")]
    quic_addr: Option<String>,
    /// Log filter (stderr).
    #[arg(long, env = "ARBITER_LOG", default_value = "warn")]
    log: String,
    /// tungstenite read buffer per connection, bytes (its default is 131072).
    #[arg(long, default_value_t = 1024)]
    read_buffer_bytes: usize,
    /// Milliseconds between two patches.
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("warn")))
        .init();
    let listener = match tokio::net::TcpListener::bind(&args.ws_addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("floor: error: cannot listen on {}: {e}", args.ws_addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("floor: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let quic = match args.quic_addr.as_deref().map(bind_quic).transpose() {
        Ok(quic) => quic,
        Err(e) => {
            eprintln!("floor: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &quic {
        Some(quic) => println!(
            "floor listening ws={addr} quic={} admin=none plugins=[]",
            quic.local_addr()
        ),
        None => println!("floor listening ws={addr} admin=none plugins=[]"),
    }
    let _ = std::io::stdout().flush();
    let opts = FloorOptions {
        tick: std::time::Duration::from_millis(args.tick_ms.max(1)),
        read_buffer: args.read_buffer_bytes.max(256),
        ..FloorOptions::default()
    };
    match serve_floor(listener, quic, opts, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The QUIC endpoint on `addr` (`IP:PORT`).
fn bind_quic(addr: &str) -> Result<FloorQuic, String> {
    let parsed = addr
        .parse()
        .map_err(|e| format!("--quic-addr {addr:?}: {e}"))?;
    FloorQuic::bind(parsed).map_err(|e| format!("cannot listen on {addr} (QUIC): {e}"))
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
