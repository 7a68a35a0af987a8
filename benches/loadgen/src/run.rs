//! What every workload shares: the run's settings ([`RunConfig`]), the
//! single-threaded runtime the clients live on, the counters they share, and
//! the measurement window.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use arbiter_protocol::Codec;
use serde::Serialize;
use tokio::task::{JoinHandle, LocalSet};

use crate::error::Result;
use crate::procstat::{CpuProbe, pss_bytes, rss_bytes};
use crate::stats::Tally;
use crate::target::Target;

/// Settings of a run that do not depend on the workload.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The server.
    pub target: Target,
    /// The codec every client offers (and so gets).
    pub codec: Codec,
    /// The `project_id` of every handshake.
    pub project: String,
    /// The server's process id, for CPU and memory figures; `None` reports
    /// them as absent.
    pub server_pid: Option<u32>,
    /// Bound on connecting, handshaking and joining, per client.
    pub connect_timeout: Duration,
    /// With `Some`, arena-move runs over QUIC to this endpoint (see
    /// [`crate::discover_quic`]); other workloads refuse it.
    pub quic: Option<arbiter_client::QuicTarget>,
}

impl RunConfig {
    /// Defaults for `target`: MessagePack, project `bench`, no server pid,
    /// 10 s connect timeout, WebSocket.
    pub fn new(target: Target) -> RunConfig {
        RunConfig {
            target,
            codec: Codec::MsgPack,
            project: "bench".to_owned(),
            server_pid: None,
            connect_timeout: Duration::from_secs(10),
            quic: None,
        }
    }
}

/// Runs `fut` on a fresh current-thread runtime, inside a [`LocalSet`] so
/// that client tasks share counters without locks. Every client of a run
/// lives on this one thread.
pub(crate) fn block_on_local<F: Future>(fut: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(LocalSet::new().block_on(&rt, fut))
}

/// State the clients of a run share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The counters.
    pub(crate) tally: RefCell<Tally>,
    /// Clients that finished their setup (connected, joined).
    pub(crate) ready: Cell<u32>,
    /// Clients whose setup failed.
    pub(crate) failed: Cell<u32>,
    /// Set when the run ends; clients look at it on their own timers (a
    /// `watch` polled in every client's `select!` cost 4 % of the load
    /// generator's CPU in registrations alone).
    stopping: Cell<bool>,
}

impl Shared {
    pub(crate) fn new() -> Rc<Shared> {
        Rc::new(Shared {
            tally: RefCell::new(Tally::default()),
            ready: Cell::new(0),
            failed: Cell::new(0),
            stopping: Cell::new(false),
        })
    }

    /// Tells every client to stop, and waits (at most `grace`) for them.
    pub(crate) async fn stop(&self, tasks: Vec<JoinHandle<()>>, grace: Duration) {
        self.stopping.set(true);
        let all = futures_util::future::join_all(tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }

    /// Whether the run is ending.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Waits until `expected` clients are ready or failed, at most `limit`.
    pub(crate) async fn settle(&self, expected: u32, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.ready.get() + self.failed.get() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Spawns `count` clients, starting at index `first`, spread evenly over
/// `ramp`; `spawn` starts client `i`.
pub(crate) async fn ramp(
    first: u32,
    count: u32,
    ramp: Duration,
    mut spawn: impl FnMut(u32) -> JoinHandle<()>,
) -> Vec<JoinHandle<()>> {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for k in 0..count {
        let at = start + ramp.mul_f64(f64::from(k) / f64::from(count.max(1)));
        tokio::time::sleep_until(at).await;
        tasks.push(spawn(first + k));
    }
    tasks
}

/// Process figures over one measurement window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessFigures {
    /// Server CPU, % of one core (`None` without a server pid).
    pub server_cpu_pct: Option<f64>,
    /// Server resident memory at the end of the window, bytes.
    pub server_rss_bytes: Option<u64>,
    /// Server proportional set size at the end of the window, bytes (shared
    /// pages divided among their mappings; see `procstat::pss_bytes`).
    pub server_pss_bytes: Option<u64>,
    /// The load generator's own CPU, % of one core.
    pub loadgen_cpu_pct: Option<f64>,
}

/// A measurement window: CPU probes of the server and of this process.
#[derive(Debug)]
pub(crate) struct Window {
    server: Option<(u32, CpuProbe)>,
    me: CpuProbe,
    started: Instant,
}

impl Window {
    pub(crate) fn open(server_pid: Option<u32>) -> Window {
        Window {
            server: server_pid.map(|pid| (pid, CpuProbe::start(pid))),
            me: CpuProbe::start(std::process::id()),
            started: Instant::now(),
        }
    }

    /// The window's length so far, seconds.
    pub(crate) fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub(crate) fn close(&self) -> ProcessFigures {
        ProcessFigures {
            server_cpu_pct: self.server.and_then(|(_, p)| p.percent_since()),
            server_rss_bytes: self.server.and_then(|(pid, _)| rss_bytes(pid)),
            server_pss_bytes: self.server.and_then(|(pid, _)| pss_bytes(pid)),
            loadgen_cpu_pct: self.me.percent_since(),
        }
    }
}

/// `n / secs`, 0 for an empty window.
pub(crate) fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}
