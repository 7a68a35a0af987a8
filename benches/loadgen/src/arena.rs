//! The arena-move workload (WORKLOAD.md, the headline): 8 clients per
//! `arena-K` room, each sending `move { x, y }` at 20 Hz with `x` growing,
//! measuring the time from a move to the first patch that shows the client's
//! own `x` at that value.

use std::rc::Rc;
use std::time::{Duration, Instant};

use arbiter_protocol::{ClientFrame, Codec, RoomId};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::time::{MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::error::{LoadgenError, Result};
use crate::procstat::{pss_bytes, rss_bytes};
use crate::run::{ProcessFigures, RunConfig, Shared, Window, block_on_local, ramp, rate};
use crate::stats::{Percentiles, Tally};
use crate::wire::{Conn, Lite, room_message};

/// Sent moves remembered per client for matching echoes; a move not echoed
/// within this many later sends is forgotten.
const RING: usize = 64;

/// Clients per arena room (WORKLOAD.md: K = i / 8).
pub const CLIENTS_PER_ROOM: u32 = 8;

/// How an arena-move run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ArenaOptions {
    /// CCU levels, in increasing order; clients are added to reach each one.
    pub levels: Vec<u32>,
    /// Time over which each level's new clients are started.
    pub ramp: Duration,
    /// Time between the end of a ramp and the measurement window.
    pub warmup: Duration,
    /// Length of each measurement window.
    pub duration: Duration,
    /// Moves per second per client (20).
    pub move_hz: f64,
    /// A level holds when its p99 move-to-echo latency is under this (100 ms)
    /// and no client failed.
    pub p99_limit_ms: f64,
    /// Stop at the first level that does not hold (`--find-capacity`).
    pub stop_at_failure: bool,
}

impl Default for ArenaOptions {
    fn default() -> ArenaOptions {
        ArenaOptions {
            levels: vec![500, 1000, 2000],
            ramp: Duration::from_secs(5),
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(10),
            move_hz: 20.0,
            p99_limit_ms: 100.0,
            stop_at_failure: false,
        }
    }
}

/// The figures of one CCU level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArenaLevel {
    /// Clients asked for.
    pub ccu: u32,
    /// Clients connected and joined at the end of the window.
    pub connected: u32,
    /// Window length, seconds.
    pub window_secs: f64,
    /// Server and load-generator CPU and memory.
    #[serde(flatten)]
    pub process: ProcessFigures,
    /// (Server RSS − idle RSS) / CCU, bytes.
    pub server_rss_per_client_bytes: Option<f64>,
    /// (Server PSS − idle PSS) / CCU, bytes.
    pub server_pss_per_client_bytes: Option<f64>,
    /// Bytes per second out of the server (WebSocket payloads received by all
    /// clients).
    pub bytes_out_per_sec: f64,
    /// Frames per second out of the server.
    pub frames_out_per_sec: f64,
    /// Bytes per client per second out of the server.
    pub bytes_per_client_per_sec: f64,
    /// Moves sent in the window.
    pub moves_sent: u64,
    /// Moves whose echo was seen (two moves in one tick show only the last).
    pub moves_echoed: u64,
    /// Move-to-echo latency.
    pub latency: Option<Percentiles>,
    /// Client errors (setup failures included).
    pub errors: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Errors by kind.
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// p99 under the limit, no errors, no disconnects, every client joined.
    pub held: bool,
}

/// The result of an arena-move run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArenaReport {
    /// `"arena-move"`.
    pub workload: &'static str,
    /// `"json"` or `"msgpack"`.
    pub codec: String,
    /// `"ws"` or `"quic"`.
    pub transport: &'static str,
    /// Server RSS before any client connected, bytes.
    pub server_rss_idle_bytes: Option<u64>,
    /// Server PSS before any client connected, bytes.
    pub server_pss_idle_bytes: Option<u64>,
    /// One entry per level run.
    pub levels: Vec<ArenaLevel>,
    /// The highest level that held (WORKLOAD.md's capacity figure), when one
    /// did.
    pub capacity: Option<u32>,
}

/// Runs arena-move (blocking: it builds its own single-threaded runtime).
pub fn run_arena(cfg: &RunConfig, opts: &ArenaOptions) -> Result<ArenaReport> {
    if opts.levels.is_empty() || opts.move_hz <= 0.0 {
        return Err(LoadgenError::Options(
            "arena-move needs at least one CCU level and a positive move rate".into(),
        ));
    }
    block_on_local(drive(cfg.clone(), opts.clone()))
}

async fn drive(cfg: RunConfig, opts: ArenaOptions) -> ArenaReport {
    let cfg = Rc::new(cfg);
    let shared = Shared::new();
    let idle = Idle {
        rss: cfg.server_pid.and_then(rss_bytes),
        pss: cfg.server_pid.and_then(pss_bytes),
    };
    let period = Duration::from_secs_f64(1.0 / opts.move_hz);
    let limit = opts.p99_limit_ms;
    let mut report = ArenaReport {
        workload: "arena-move",
        codec: cfg.codec.to_string(),
        transport: if cfg.quic.is_some() { "quic" } else { "ws" },
        server_rss_idle_bytes: idle.rss,
        server_pss_idle_bytes: idle.pss,
        levels: Vec::new(),
        capacity: None,
    };
    let mut tasks = Vec::new();
    let mut started = 0u32;
    for &ccu in &opts.levels {
        let add = ccu.saturating_sub(started);
        let failed_before = shared.failed.get();
        let more = ramp(started, add, opts.ramp, |i| {
            let (cfg, shared) = (cfg.clone(), shared.clone());
            if cfg.quic.is_some() {
                tokio::task::spawn_local(crate::quic::arena_client(i, cfg, shared, period))
            } else {
                tokio::task::spawn_local(client(i, cfg, shared, period))
            }
        })
        .await;
        tasks.extend(more);
        started += add;
        shared.settle(started, cfg.connect_timeout).await;
        tokio::time::sleep(opts.warmup).await;
        let setup_failures = shared.failed.get() - failed_before;
        // Failures of the ramp and warm-up count against the level.
        let before = shared.tally.borrow_mut().take();
        let window = Window::open(cfg.server_pid);
        tokio::time::sleep(opts.duration).await;
        let mut tally = shared.tally.borrow_mut().take();
        tally.absorb_failures(before);
        let secs = window.secs();
        let process = window.close();
        let connected = shared.ready.get();
        let level = level_figures(ccu, connected, secs, process, idle, tally, limit);
        let held = level.held && setup_failures == 0;
        tracing::info!(ccu, held, "arena-move level done");
        report.levels.push(ArenaLevel { held, ..level });
        if held {
            report.capacity = Some(ccu);
        } else if opts.stop_at_failure {
            break;
        }
    }
    shared.stop(tasks, Duration::from_secs(5)).await;
    report
}

/// The server's memory before any client connected.
#[derive(Debug, Clone, Copy, Default)]
struct Idle {
    rss: Option<u64>,
    pss: Option<u64>,
}

/// `(loaded − idle) / ccu`.
fn per_client(loaded: Option<u64>, idle: Option<u64>, ccu: u32) -> Option<f64> {
    match (loaded, idle) {
        (Some(loaded), Some(idle)) if ccu > 0 => {
            Some(loaded.saturating_sub(idle) as f64 / f64::from(ccu))
        }
        _ => None,
    }
}

fn level_figures(
    ccu: u32,
    connected: u32,
    secs: f64,
    process: ProcessFigures,
    idle: Idle,
    mut tally: Tally,
    p99_limit_ms: f64,
) -> ArenaLevel {
    let latency = Percentiles::of(&mut tally.latencies_us);
    let bytes_out_per_sec = rate(tally.bytes_in, secs);
    let held = tally.errors == 0
        && tally.disconnects == 0
        && connected >= ccu
        && latency.is_some_and(|l| l.p99_ms < p99_limit_ms);
    ArenaLevel {
        ccu,
        connected,
        window_secs: secs,
        process,
        server_rss_per_client_bytes: per_client(process.server_rss_bytes, idle.rss, ccu),
        server_pss_per_client_bytes: per_client(process.server_pss_bytes, idle.pss, ccu),
        bytes_out_per_sec,
        frames_out_per_sec: rate(tally.frames_in, secs),
        bytes_per_client_per_sec: bytes_out_per_sec / f64::from(connected.max(1)),
        moves_sent: tally.sent,
        moves_echoed: tally.done,
        latency,
        errors: tally.errors,
        disconnects: tally.disconnects,
        error_kinds: tally.error_kinds,
        first_error: tally.first_error,
        held,
    }
}

/// One arena client: set up, then move at `period` and watch for echoes
/// until the run stops.
async fn client(i: u32, cfg: Rc<RunConfig>, shared: Rc<Shared>, period: Duration) {
    let Some(room) = room_of(i, &shared) else {
        return;
    };
    let mut conn = match timeout(cfg.connect_timeout, setup(&cfg, &room)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return fail(&shared, &e),
        Err(_) => return fail(&shared, &LoadgenError::Timeout("connecting and joining")),
    };
    shared.ready.set(shared.ready.get() + 1);
    let mut echoes = Echoes::new(&conn.session_id, i);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            msg = conn.ws.next() => {
                let bytes = match &msg {
                    None => Err("the server closed the connection".to_owned()),
                    Some(Err(e)) => Err(e.to_string()),
                    Some(Ok(Message::Close(_))) => Err("the server sent a close frame".to_owned()),
                    Some(Ok(Message::Binary(b))) => Ok(Some(&b[..])),
                    Some(Ok(Message::Text(t))) => Ok(Some(t.as_bytes())),
                    Some(Ok(_)) => Ok(None),
                };
                let received = bytes.map(|b| {
                    if let Some(b) = b {
                        echoes.receive(conn.codec, b, &shared);
                    }
                });
                if let Err(why) = received {
                    return lost(&shared, &why);
                }
            }
            _ = tick.tick() => {
                if shared.stopping() {
                    break;
                }
                let sent = async {
                    let msg = conn.encode(&echoes.next_move(&room))?;
                    futures_util::SinkExt::send(&mut conn.ws, msg).await?;
                    Ok::<_, LoadgenError>(())
                };
                match sent.await {
                    Ok(()) => shared.tally.borrow_mut().sent += 1,
                    Err(e) => return lost(&shared, &e.to_string()),
                }
            }
        }
    }
    leave_and_close(&mut conn, &room).await;
}

/// Client `i`'s room, `arena-K` with K = i / 8.
pub(crate) fn room_of(i: u32, shared: &Shared) -> Option<RoomId> {
    match RoomId::new(format!("arena-{}", i / CLIENTS_PER_ROOM)) {
        Ok(room) => Some(room),
        Err(e) => {
            fail(shared, &LoadgenError::Options(e.to_string()));
            None
        }
    }
}

/// Leaves `room` (so that its seat is free at once, not after the session
/// TTL) and closes the connection, without waiting for answers.
pub(crate) async fn leave_and_close(conn: &mut Conn, room: &RoomId) {
    let _ = timeout(Duration::from_secs(1), async {
        let _ = conn.send_leave(room).await;
        let _ = conn.ws.close(None).await;
    })
    .await;
}

/// Counts a client whose setup failed.
pub(crate) fn fail(shared: &Shared, err: &LoadgenError) {
    shared.tally.borrow_mut().error(err);
    shared.failed.set(shared.failed.get() + 1);
}

/// Counts a client whose connection was lost.
pub(crate) fn lost(shared: &Shared, why: &str) {
    shared.tally.borrow_mut().disconnect(why);
    shared.ready.set(shared.ready.get().saturating_sub(1));
}

/// Connects and joins `room`.
async fn setup(cfg: &RunConfig, room: &RoomId) -> Result<Conn> {
    let mut conn = Conn::connect(&cfg.target, cfg.codec, &cfg.project).await?;
    let rid = conn.send_join("arena", room).await?;
    conn.read_until(Some(&rid), |f| f.answers(&rid).then_some(()))
        .await?;
    Ok(conn)
}

/// A joined client's moves and their echoes, whatever the transport.
pub(crate) struct Echoes {
    /// `/players/<session>/x`: the op that echoes this client's moves.
    my_x: String,
    /// Send instants of recent moves, by `x % RING`.
    sent_at: [Option<Instant>; RING],
    /// The last `x` sent.
    x: u64,
    /// The last `x` seen echoed.
    echoed: u64,
    y_base: u64,
}

impl Echoes {
    pub(crate) fn new(session_id: &str, i: u32) -> Echoes {
        Echoes {
            my_x: format!("/players/{session_id}/x"),
            sent_at: [None; RING],
            x: 0,
            echoed: 0,
            y_base: u64::from(i % 100),
        }
    }

    /// The next move (x + 1), its send time noted now.
    pub(crate) fn next_move(&mut self, room: &RoomId) -> ClientFrame {
        self.x += 1;
        let x = self.x;
        self.sent_at[x as usize % RING] = Some(Instant::now());
        // y changes with every move too, as in a game: 2 ops per player per tick.
        room_message(room, "move", json!({ "x": x, "y": self.y_base + x % 500 }))
    }

    /// Counts one server frame and matches the echoes it holds.
    pub(crate) fn receive(&mut self, codec: Codec, bytes: &[u8], shared: &Shared) {
        let now = Instant::now();
        let mut tally = shared.tally.borrow_mut();
        tally.frames_in += 1;
        tally.bytes_in += bytes.len() as u64;
        let frame = match Lite::decode(codec, bytes) {
            Ok(frame) => frame,
            Err(e) => return tally.error(&e),
        };
        match frame.t.as_ref() {
            "state.patch" => self.match_echo(&frame, now, &mut tally),
            "error" | "room.closed" => {
                let e = frame
                    .refusal(None)
                    .unwrap_or_else(|| LoadgenError::Protocol("the room closed".into()));
                tally.error(&e);
            }
            _ => {}
        }
    }

    fn match_echo(&mut self, frame: &Lite<'_>, now: Instant, tally: &mut Tally) {
        let Some(ops) = frame.payload().ops.as_ref() else {
            return;
        };
        for op in ops.iter().filter(|op| op.path == self.my_x) {
            let Some(v) = op.value.0 else { continue };
            let v = v as u64;
            if v <= self.echoed || v > self.x {
                continue;
            }
            self.echoed = v;
            if self.x - v < RING as u64
                && let Some(at) = self.sent_at[v as usize % RING].take()
            {
                tally.latency(now.saturating_duration_since(at));
                tally.done += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::{Seq, ServerFrame, StatePatch};
    use arbiter_state::PatchOp;

    fn patch(codec: Codec, ops: &[(&str, f64)]) -> Vec<u8> {
        let ops = ops
            .iter()
            .map(|(path, v)| PatchOp::Set {
                path: (*path).to_owned(),
                value: json!(v),
            })
            .collect();
        let frame = ServerFrame::new(StatePatch {
            seq: Seq(1),
            ops,
            checksum: None,
        })
        .in_room(RoomId::new("arena-0").unwrap());
        let mut buf = Vec::new();
        codec.encode_server(&frame, &mut buf).unwrap();
        buf
    }

    #[test]
    fn only_the_clients_own_x_counts_once_per_move() {
        let shared = Shared::new();
        let room = RoomId::new("arena-0").unwrap();
        let mut echoes = Echoes::new("s_me", 3);
        for _ in 0..3 {
            echoes.next_move(&room);
        }
        let codec = Codec::MsgPack;
        // Someone else's x, then ours at 2 (move 1 was overwritten in the tick).
        echoes.receive(
            codec,
            &patch(codec, &[("/players/s_other/x", 3.0)]),
            &shared,
        );
        echoes.receive(codec, &patch(codec, &[("/players/s_me/x", 2.0)]), &shared);
        // A replayed or older value, and one never sent, do not count.
        echoes.receive(codec, &patch(codec, &[("/players/s_me/x", 2.0)]), &shared);
        echoes.receive(codec, &patch(codec, &[("/players/s_me/x", 9.0)]), &shared);
        echoes.receive(codec, &patch(codec, &[("/players/s_me/x", 3.0)]), &shared);
        let tally = shared.tally.borrow_mut().take();
        assert_eq!(tally.frames_in, 5);
        assert_eq!(tally.done, 2);
        assert_eq!(tally.latencies_us.len(), 2);
        assert_eq!(tally.errors, 0);
    }

    #[test]
    fn a_level_holds_only_without_failures_and_under_the_bound() {
        let process = ProcessFigures {
            server_cpu_pct: Some(50.0),
            server_rss_bytes: Some(3 << 20),
            server_pss_bytes: Some(2 << 20),
            loadgen_cpu_pct: Some(20.0),
        };
        let tally = || Tally {
            latencies_us: vec![10_000, 20_000, 30_000],
            ..Tally::default()
        };
        let idle = Idle {
            rss: Some(1 << 20),
            pss: Some(1 << 20),
        };
        let ok = level_figures(8, 8, 1.0, process, idle, tally(), 100.0);
        assert!(ok.held);
        assert_eq!(
            ok.server_rss_per_client_bytes,
            Some(f64::from(2 << 20) / 8.0)
        );
        assert_eq!(
            ok.server_pss_per_client_bytes,
            Some(f64::from(1 << 20) / 8.0)
        );
        assert!(!level_figures(8, 8, 1.0, process, Idle::default(), tally(), 25.0).held);
        assert!(!level_figures(8, 7, 1.0, process, Idle::default(), tally(), 100.0).held);
        let mut failed = tally();
        failed.disconnects = 1;
        assert!(!level_figures(8, 8, 1.0, process, Idle::default(), failed, 100.0).held);
    }
}
