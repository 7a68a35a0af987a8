//! The counter-burst workload (WORKLOAD.md): one `counter` room per 50
//! clients; each client sends `inc` as soon as its previous one is reflected
//! (closed loop).
//!
//! "Reflected" is the first `state.patch` of the room that reaches the client
//! after it sent the `inc`. The counter is one shared integer, so a client
//! cannot tell its own increment from another's: when the room is busy that
//! patch may hold an earlier batch, which makes the round trip a slight
//! underestimate (exact when the room is otherwise idle). The count of
//! messages handled is exact: every `inc` sent in the window.

use std::rc::Rc;
use std::time::{Duration, Instant};

use arbiter_protocol::RoomId;
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{LoadgenError, Result};
use crate::run::{ProcessFigures, RunConfig, Shared, Window, block_on_local, ramp, rate};
use crate::stats::Percentiles;
use crate::wire::{Conn, Lite, room_message};

/// An `inc` not reflected within this long is counted as an error and sent
/// again, so that one lost patch cannot stall a client.
const STALL: Duration = Duration::from_secs(5);

/// How a counter-burst run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterOptions {
    /// Clients.
    pub clients: u32,
    /// Clients per `counter` room (50).
    pub clients_per_room: u32,
    /// Time over which the clients are started.
    pub ramp: Duration,
    /// Time between the end of the ramp and the window.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
}

impl Default for CounterOptions {
    fn default() -> CounterOptions {
        CounterOptions {
            clients: 500,
            clients_per_room: 50,
            ramp: Duration::from_secs(2),
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
        }
    }
}

/// The result of a counter-burst run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterReport {
    /// `"counter-burst"`.
    pub workload: &'static str,
    /// `"json"` or `"msgpack"`.
    pub codec: String,
    /// Clients asked for.
    pub clients: u32,
    /// Clients connected and joined at the end of the window.
    pub connected: u32,
    /// Rooms.
    pub rooms: u32,
    /// Window length, seconds.
    pub window_secs: f64,
    /// Server and load-generator CPU and memory.
    #[serde(flatten)]
    pub process: ProcessFigures,
    /// `inc` messages sent (and so handled by the server) per second.
    pub msgs_per_sec: f64,
    /// Patches received per second by all clients.
    pub frames_out_per_sec: f64,
    /// Bytes received per second by all clients.
    pub bytes_out_per_sec: f64,
    /// Round trip, `inc` to the next patch of its room.
    pub round_trip: Option<Percentiles>,
    /// Client errors (`rate.limited` included: raise the server's
    /// `--rate-per-sec` for this workload).
    pub errors: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Errors by kind.
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// The first error seen.
    pub first_error: Option<String>,
}

/// Runs counter-burst (blocking).
pub fn run_counter(cfg: &RunConfig, opts: &CounterOptions) -> Result<CounterReport> {
    if opts.clients == 0 || opts.clients_per_room == 0 {
        return Err(LoadgenError::Options(
            "counter-burst needs clients and clients per room above 0".into(),
        ));
    }
    if cfg.quic.is_some() {
        return Err(LoadgenError::Unsupported(
            "counter-burst runs over WebSocket only (WORKLOAD.md runs arena-move over QUIC)".into(),
        ));
    }
    block_on_local(drive(cfg.clone(), opts.clone()))
}

async fn drive(cfg: RunConfig, opts: CounterOptions) -> CounterReport {
    let cfg = Rc::new(cfg);
    let shared = Shared::new();
    let per_room = opts.clients_per_room;
    let tasks = ramp(0, opts.clients, opts.ramp, |i| {
        tokio::task::spawn_local(client(i, per_room, cfg.clone(), shared.clone()))
    })
    .await;
    shared.settle(opts.clients, cfg.connect_timeout).await;
    tokio::time::sleep(opts.warmup).await;
    shared.tally.borrow_mut().take();
    let window = Window::open(cfg.server_pid);
    tokio::time::sleep(opts.duration).await;
    let mut tally = shared.tally.borrow_mut().take();
    let secs = window.secs();
    let process = window.close();
    let connected = shared.ready.get();
    shared.stop(tasks, Duration::from_secs(5)).await;
    CounterReport {
        workload: "counter-burst",
        codec: cfg.codec.to_string(),
        clients: opts.clients,
        connected,
        rooms: opts.clients.div_ceil(per_room),
        window_secs: secs,
        process,
        msgs_per_sec: rate(tally.sent, secs),
        frames_out_per_sec: rate(tally.frames_in, secs),
        bytes_out_per_sec: rate(tally.bytes_in, secs),
        round_trip: Percentiles::of(&mut tally.latencies_us),
        errors: tally.errors,
        disconnects: tally.disconnects,
        error_kinds: tally.error_kinds,
        first_error: tally.first_error,
    }
}

async fn client(i: u32, per_room: u32, cfg: Rc<RunConfig>, shared: Rc<Shared>) {
    let setup = async {
        let room = RoomId::new(format!("counter-{}", i / per_room))
            .map_err(|e| LoadgenError::Options(e.to_string()))?;
        let mut conn = Conn::connect(&cfg.target, cfg.codec, &cfg.project).await?;
        let rid = conn.send_join("counter", &room).await?;
        conn.read_until(Some(&rid), |f| f.answers(&rid).then_some(()))
            .await?;
        Ok::<_, LoadgenError>((conn, room))
    };
    let (mut conn, room) = match timeout(cfg.connect_timeout, setup).await {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => return fail(&shared, &e),
        Err(_) => return fail(&shared, &LoadgenError::Timeout("connecting and joining")),
    };
    shared.ready.set(shared.ready.get() + 1);
    let inc = match conn.encode(&room_message(&room, "inc", json!({ "by": 1 }))) {
        Ok(inc) => inc,
        Err(e) => return fail(&shared, &e),
    };
    let mut sent_at = Instant::now();
    if let Err(e) = send(&mut conn, &inc, &shared).await {
        return lost(&shared, &e.to_string());
    }
    while !shared.stopping() {
        let stall = tokio::time::sleep_until((sent_at + STALL).into());
        tokio::select! {
            _ = stall => {
                shared.tally.borrow_mut().error(&LoadgenError::Timeout("waiting for a patch"));
            }
            msg = conn.ws.next() => match reflected(msg, conn.codec, &shared) {
                Ok(false) => continue,
                Ok(true) => shared.tally.borrow_mut().latency(sent_at.elapsed()),
                Err(why) => return lost(&shared, &why),
            },
        }
        // Frames already waiting were sent before the server saw the next
        // `inc`: read them now so that none passes for its reflection.
        while let Some(msg) = conn.ws.next().now_or_never() {
            if let Err(why) = reflected(msg, conn.codec, &shared) {
                return lost(&shared, &why);
            }
        }
        sent_at = Instant::now();
        if let Err(e) = send(&mut conn, &inc, &shared).await {
            return lost(&shared, &e.to_string());
        }
    }
    crate::arena::leave_and_close(&mut conn, &room).await;
}

async fn send(conn: &mut Conn, inc: &Message, shared: &Shared) -> Result<()> {
    futures_util::SinkExt::send(&mut conn.ws, inc.clone()).await?;
    shared.tally.borrow_mut().sent += 1;
    Ok(())
}

/// Whether this read is a patch (the previous `inc` is reflected); `Err`
/// when the connection is gone.
fn reflected(
    msg: Option<std::result::Result<Message, tokio_tungstenite::tungstenite::Error>>,
    codec: arbiter_protocol::Codec,
    shared: &Shared,
) -> std::result::Result<bool, String> {
    let msg = match msg {
        None => return Err("the server closed the connection".into()),
        Some(Err(e)) => return Err(e.to_string()),
        Some(Ok(msg)) => msg,
    };
    let bytes: &[u8] = match &msg {
        Message::Binary(b) => b,
        Message::Text(t) => t.as_bytes(),
        Message::Close(_) => return Err("the server sent a close frame".into()),
        _ => return Ok(false),
    };
    let mut tally = shared.tally.borrow_mut();
    tally.frames_in += 1;
    tally.bytes_in += bytes.len() as u64;
    match Lite::decode(codec, bytes) {
        Ok(frame) if frame.t == "state.patch" => Ok(true),
        Ok(frame) => {
            if let Some(e) = frame.refusal(None) {
                tally.error(&e);
            }
            Ok(false)
        }
        Err(e) => {
            tally.error(&e);
            Ok(false)
        }
    }
}

fn fail(shared: &Shared, err: &LoadgenError) {
    shared.tally.borrow_mut().error(err);
    shared.failed.set(shared.failed.get() + 1);
}

fn lost(shared: &Shared, why: &str) {
    shared.tally.borrow_mut().disconnect(why);
    shared.ready.set(shared.ready.get().saturating_sub(1));
}
