//! The join-storm workload (WORKLOAD.md): N workers, each in a loop connect,
//! handshake, join an `arena` room, leave, disconnect.
//!
//! Worker `w` joins `storm-K` with K = w / 8, so rooms fill like arena-move's
//! and the churn exercises room creation as well as joins. Join latency runs
//! from sending `room.join_or_create` to its `state.snapshot` (the client can
//! play from then on); handshake latency from the TCP connect to
//! `handshake.ok`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use arbiter_protocol::RoomId;
use serde::Serialize;
use tokio::time::timeout;

use crate::error::{LoadgenError, Result};
use crate::run::{ProcessFigures, RunConfig, Shared, Window, block_on_local, ramp, rate};
use crate::stats::Percentiles;
use crate::wire::Conn;

/// How a join-storm run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct StormOptions {
    /// Concurrent workers.
    pub workers: u32,
    /// Time over which the workers are started.
    pub ramp: Duration,
    /// Time between the end of the ramp and the window.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
}

impl Default for StormOptions {
    fn default() -> StormOptions {
        StormOptions {
            workers: 200,
            ramp: Duration::from_secs(1),
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
        }
    }
}

/// The result of a join-storm run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StormReport {
    /// `"join-storm"`.
    pub workload: &'static str,
    /// `"json"` or `"msgpack"`.
    pub codec: String,
    /// Concurrent workers.
    pub workers: u32,
    /// Window length, seconds.
    pub window_secs: f64,
    /// Server and load-generator CPU and memory.
    #[serde(flatten)]
    pub process: ProcessFigures,
    /// Handshakes completed per second.
    pub handshakes_per_sec: f64,
    /// Joins completed (snapshot received) per second.
    pub joins_per_sec: f64,
    /// Handshakes + joins per second (WORKLOAD.md's figure).
    pub handshakes_plus_joins_per_sec: f64,
    /// Join latency, request to snapshot.
    pub join_latency: Option<Percentiles>,
    /// Handshake latency, TCP connect to `handshake.ok`.
    pub handshake_latency: Option<Percentiles>,
    /// Failed cycles.
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// The first error seen.
    pub first_error: Option<String>,
}

/// Runs join-storm (blocking).
pub fn run_storm(cfg: &RunConfig, opts: &StormOptions) -> Result<StormReport> {
    if opts.workers == 0 {
        return Err(LoadgenError::Options(
            "join-storm needs at least one worker".into(),
        ));
    }
    if cfg.quic.is_some() {
        return Err(LoadgenError::Unsupported(
            "join-storm runs over WebSocket only (WORKLOAD.md runs arena-move over QUIC)".into(),
        ));
    }
    block_on_local(drive(cfg.clone(), opts.clone()))
}

async fn drive(cfg: RunConfig, opts: StormOptions) -> StormReport {
    let cfg = Rc::new(cfg);
    let shared = Shared::new();
    let tasks = ramp(0, opts.workers, opts.ramp, |w| {
        tokio::task::spawn_local(worker(w, cfg.clone(), shared.clone()))
    })
    .await;
    tokio::time::sleep(opts.warmup).await;
    shared.tally.borrow_mut().take();
    let window = Window::open(cfg.server_pid);
    tokio::time::sleep(opts.duration).await;
    let mut tally = shared.tally.borrow_mut().take();
    let secs = window.secs();
    let process = window.close();
    shared.stop(tasks, Duration::from_secs(5)).await;
    let handshakes_per_sec = rate(tally.handshakes, secs);
    let joins_per_sec = rate(tally.done, secs);
    StormReport {
        workload: "join-storm",
        codec: cfg.codec.to_string(),
        workers: opts.workers,
        window_secs: secs,
        process,
        handshakes_per_sec,
        joins_per_sec,
        handshakes_plus_joins_per_sec: handshakes_per_sec + joins_per_sec,
        join_latency: Percentiles::of(&mut tally.latencies_us),
        handshake_latency: Percentiles::of(&mut tally.aux_latencies_us),
        errors: tally.errors,
        error_kinds: tally.error_kinds,
        first_error: tally.first_error,
    }
}

async fn worker(w: u32, cfg: Rc<RunConfig>, shared: Rc<Shared>) {
    let room = match RoomId::new(format!("storm-{}", w / 8)) {
        Ok(room) => room,
        Err(e) => {
            return shared
                .tally
                .borrow_mut()
                .error(&LoadgenError::Options(e.to_string()));
        }
    };
    while !shared.stopping() {
        let err = match timeout(cfg.connect_timeout, cycle(&cfg, &room, &shared)).await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => LoadgenError::Timeout("a join-storm cycle"),
        };
        if shared.stopping() {
            // A cycle cut short by the end of the run is not an error.
            return;
        }
        shared.tally.borrow_mut().error(&err);
        // Do not spin on a server that refuses everything.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One connect → handshake → join → leave → close.
async fn cycle(cfg: &RunConfig, room: &RoomId, shared: &Shared) -> Result<()> {
    shared.tally.borrow_mut().sent += 1;
    let start = Instant::now();
    let mut conn = Conn::connect(&cfg.target, cfg.codec, &cfg.project).await?;
    {
        let mut tally = shared.tally.borrow_mut();
        tally.handshakes += 1;
        tally.aux_latency(start.elapsed());
    }
    let joining = Instant::now();
    let rid = conn.send_join("arena", room).await?;
    let mut answered = false;
    conn.read_until(Some(&rid), |f| {
        answered |= f.answers(&rid);
        (answered && f.t == "state.snapshot").then_some(())
    })
    .await?;
    {
        let mut tally = shared.tally.borrow_mut();
        tally.done += 1;
        tally.latency(joining.elapsed());
    }
    let rid = conn.send_leave(room).await?;
    conn.read_until(Some(&rid), |f| f.answers(&rid).then_some(()))
        .await?;
    // The close handshake: the server closes TCP first, so TIME_WAIT stays on
    // its side and the load generator's ephemeral ports are not exhausted.
    conn.ws.close(None).await?;
    while let Some(msg) = futures_util::StreamExt::next(&mut conn.ws).await {
        if msg.is_err() {
            break;
        }
    }
    Ok(())
}
