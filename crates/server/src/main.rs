//! `arbiter`, the Arbiter server binary: reads the settings (flags, env,
//! TOML file), starts the runtime with the plugins of `--plugins-dir`, serves
//! WebSocket clients on `--ws-addr`, QUIC clients on `--quic-addr` (UDP) and
//! the admin HTTP routes on `--admin-addr`, and drains gracefully on
//! SIGINT/SIGTERM.
//!
//! Once the listeners are bound it prints exactly one line to stdout, with the
//! actual addresses (useful with port 0):
//!
//! ```text
//! arbiter listening ws=127.0.0.1:4000 quic=127.0.0.1:4434 admin=127.0.0.1:9100 plugins=[arena,counter,tictactoe]
//! ```
//!
//! Logs go to stderr. Exit codes: 0 after a clean shutdown, 2 for settings the
//! server refuses (usage errors included), 1 for anything else. Operators'
//! guide: `docs/running.md`.

mod admin;
mod config;
mod error;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arbiter_gateway::{QuicIdentity, QuicListener, serve_quic, serve_ws};
use arbiter_runtime::{Metrics, Runtime};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing_subscriber::EnvFilter;

use crate::admin::AdminSource;
use crate::config::{Cli, Environment, LogFormat, Settings};
use crate::error::Error;

/// How much longer than `--drain-timeout-ms` the binary waits for the
/// runtime's drain before exiting anyway.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// How long the WebSocket accept loop gets to wind down after the drain.
const LISTENER_STOP_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(&cli, &Environment::from_process()) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    if cli.print_config {
        return match settings.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    if let Err(message) = init_tracing(&settings) {
        eprintln!("arbiter: error: cannot set up logging: {message}");
        return ExitCode::from(2);
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Reports `error` on stderr (logging may be off or not set up yet) and
/// returns its exit code.
fn fail(error: &Error) -> ExitCode {
    eprintln!("arbiter: error: {error}");
    ExitCode::from(error.exit_code())
}

/// Installs the global tracing subscriber: stderr, text or JSON lines.
fn init_tracing(settings: &Settings) -> Result<(), String> {
    let filter = EnvFilter::builder()
        .parse(&settings.log)
        .map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// Builds the tokio runtime and serves until shutdown.
fn run(settings: Settings) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arbiter-worker")
        .build()
        .map_err(Error::AsyncRuntime)?;
    let result = rt.block_on(serve(settings));
    // Tasks still running (connections being closed) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Starts everything, waits for a signal (or a listener failure), drains.
async fn serve(settings: Settings) -> Result<(), Error> {
    // Installed before the listening line, so a signal sent as soon as it is
    // printed is already handled gracefully.
    let mut signals = Signals::install()?;
    // Bound first so a busy port fails before plugins are compiled; nothing
    // is accepted until the runtime is up.
    let ws = bind("ws", settings.ws_addr).await?;
    let admin = bind("admin", settings.admin_addr).await?;
    let quic = bind_quic(&settings)?;
    let mut config = settings.runtime_config();
    config.quic = Some(quic.info());
    let runtime = Runtime::start(config, Arc::new(Metrics::new()))
        .map_err(|e| Error::Runtime(e.to_string()))?;
    announce(&settings, &ws, &quic, &admin, &runtime.room_types())?;

    let (stop_ws, ws_stopped) = oneshot::channel::<()>();
    let mut ws_task = tokio::spawn(serve_ws(ws, Arc::clone(&runtime), async {
        let _ = ws_stopped.await;
    }));
    let (stop_quic, quic_stopped) = oneshot::channel::<()>();
    let mut quic_task = tokio::spawn(serve_quic(quic, Arc::clone(&runtime), async {
        let _ = quic_stopped.await;
    }));
    let (stop_admin, admin_stopped) = oneshot::channel::<()>();
    let admin_task = tokio::spawn(admin::serve(admin, Arc::clone(&runtime), async {
        let _ = admin_stopped.await;
    }));

    let outcome = tokio::select! {
        signal = signals.next() => {
            tracing::info!(signal, "shutting down: no new connections, draining rooms");
            Ok(())
        }
        ended = &mut ws_task => Err(listener_failed("ws", ended)),
        ended = &mut quic_task => Err(listener_failed("quic", ended)),
    };
    let _ = stop_ws.send(());
    let _ = stop_quic.send(());
    drain(&runtime, &mut signals, settings.drain_timeout_ms).await?;
    if !ws_task.is_finished()
        && tokio::time::timeout(LISTENER_STOP_GRACE, &mut ws_task)
            .await
            .is_err()
    {
        ws_task.abort();
    }
    if !quic_task.is_finished() {
        quic_task.abort();
    }
    let _ = stop_admin.send(());
    let _ = admin_task.await;
    tracing::info!("arbiter stopped");
    outcome
}

/// The error for an accept loop that ended before shutdown (logged).
fn listener_failed(
    what: &'static str,
    ended: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Error {
    let source = match ended {
        Ok(Err(error)) => error,
        Ok(Ok(())) => std::io::Error::other("accept loop ended on its own"),
        Err(join) => std::io::Error::other(join.to_string()),
    };
    tracing::error!(listener = what, error = %source, "listener failed; draining");
    Error::Serve { what, source }
}

/// Loads (or generates) the QUIC certificate and binds the UDP listener.
fn bind_quic(settings: &Settings) -> Result<QuicListener, Error> {
    let identity = match (&settings.quic_cert, &settings.quic_key) {
        (Some(cert), Some(key)) => QuicIdentity::from_pem_files(cert, key),
        _ => QuicIdentity::self_signed(),
    }
    .map_err(Error::Quic)?;
    if identity.is_generated() {
        tracing::info!(
            cert_sha256 = identity.cert_sha256(),
            valid_days = arbiter_gateway::GENERATED_CERT_VALIDITY.as_secs() / 86_400,
            "QUIC: generated a self-signed certificate (clients pin its SHA-256); \
             restart before it expires or pass --quic-cert/--quic-key"
        );
    } else {
        tracing::info!(
            cert_sha256 = identity.cert_sha256(),
            "QUIC: loaded the certificate of --quic-cert"
        );
    }
    QuicListener::bind(settings.quic_addr, &identity).map_err(Error::Quic)
}

/// Runs the runtime's drain, bounded by the drain timeout plus some slack; a
/// second signal abandons it.
async fn drain(runtime: &Runtime, signals: &mut Signals, timeout_ms: u64) -> Result<(), Error> {
    let bound = Duration::from_millis(timeout_ms) + DRAIN_SLACK;
    tokio::select! {
        drained = tokio::time::timeout(bound, runtime.drain()) => {
            if drained.is_err() {
                tracing::warn!(?bound, "drain did not finish in time; exiting anyway");
            }
            Ok(())
        }
        signal = signals.next() => {
            tracing::warn!(signal, "second signal while draining");
            Err(Error::Interrupted)
        }
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { what, addr, source })
}

/// Prints the one stdout line harnesses wait for, and logs the same.
fn announce(
    settings: &Settings,
    ws: &TcpListener,
    quic: &QuicListener,
    admin: &TcpListener,
    room_types: &[String],
) -> Result<(), Error> {
    let local = |what, listener: &TcpListener, addr| {
        listener
            .local_addr()
            .map_err(|source| Error::Bind { what, addr, source })
    };
    let ws = local("ws", ws, settings.ws_addr)?;
    let admin = local("admin", admin, settings.admin_addr)?;
    let quic_addr = quic.local_addr();
    let plugins = room_types.join(",");
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "arbiter listening ws={ws} quic={quic_addr} admin={admin} plugins=[{plugins}]"
    );
    let _ = stdout.flush();
    tracing::info!(
        %ws,
        quic = %quic_addr,
        cert_sha256 = %quic.info().cert_sha256,
        %admin,
        plugins_dir = %settings.plugins_dir.display(),
        room_types = %plugins,
        auth = settings.auth.as_str(),
        "arbiter listening"
    );
    Ok(())
}

impl AdminSource for Runtime {
    fn metrics_text(&self) -> String {
        self.metrics().encode_text()
    }

    fn rooms_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.rooms())
    }

    fn is_draining(&self) -> bool {
        Runtime::is_draining(self)
    }
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), registered up front.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Result<Signals, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(Error::Signals)?,
            terminate: signal(SignalKind::terminate()).map_err(Error::Signals)?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Signals, Error> {
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    #[cfg(unix)]
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// Waits for the next Ctrl-C.
    #[cfg(not(unix))]
    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
