//! The floor: a minimal reference server that speaks just enough of the
//! protocol for the load generator (WORKLOAD.md, "The floor").
//!
//! It accepts WebSocket connections exactly as `arbiter` does (tokio,
//! tokio-tungstenite, `TCP_NODELAY`), answers the JSON handshake with
//! `handshake.ok`, decodes every client frame in the negotiated codec, answers
//! `room.join_or_create` with an `rpc.response` and a snapshot of 8 players,
//! `room.leave` with an `rpc.response`, `ping` with `pong`, and ignores the
//! rest. Every tick (50 ms) it writes to each joined client one real
//! `state.patch` of the size an arena room's has when its 8 players all move
//! (16 `set` ops and a checksum), encoded once per tick per codec and shared
//! as [`Bytes`]. No rooms, plugins, state or per-client work beyond the
//! socket: what it costs is what the kernel, the WebSocket layer and the
//! codec cost on this machine, the physical limit the server is held against.
//!
//! Given a [`FloorQuic`] endpoint it serves QUIC-only sessions the same way
//! ([`crate::floor_quic`]): the same handshake and answers on the first
//! bidirectional stream, the same tick bytes with a length prefix, and
//! datagrams decoded and dropped. Both transports share `FloorCtx`'s
//! handshake and frame handling.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbiter_protocol::{
    Checksum, ClientFrame, ClientMessage, Codec, HandshakeOk, Joined, Limits, Pong, QuicInfo,
    RoomId, RpcOk, RpcResponse, Seq, ServerFrame, ServerMessage, SessionId, StatePatch,
    StateSnapshot, decode_handshake,
};
use arbiter_state::PatchOp;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::error::{LoadgenError, Result};
use crate::floor_quic::{self, FloorQuic};

/// The floor's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorOptions {
    /// Time between two patches (50 ms: the arena's 20 Hz).
    pub tick: Duration,
    /// Players in each simulated room (8).
    pub players: usize,
    /// tungstenite's read buffer per connection (1 KiB, as `arbiter`; tungstenite's default
    /// is 128 KiB, allocated per connection and zeroed on every read).
    pub read_buffer: usize,
}

impl Default for FloorOptions {
    fn default() -> FloorOptions {
        FloorOptions {
            tick: Duration::from_millis(50),
            players: 8,
            read_buffer: 1024,
        }
    }
}

/// One tick's patch, encoded once per codec. The QUIC frames are the same
/// bytes with their 4-byte length prefix; the WebSocket ones are slices of
/// them (no second copy).
#[derive(Debug)]
pub(crate) struct TickFrames {
    json: Utf8Bytes,
    msgpack: Bytes,
    json_prefixed: Bytes,
    msgpack_prefixed: Bytes,
}

impl TickFrames {
    /// The patch as one WebSocket message of `codec`.
    fn ws(&self, codec: Codec) -> Message {
        match codec {
            Codec::MsgPack => Message::Binary(self.msgpack.clone()),
            Codec::Json => Message::Text(self.json.clone()),
        }
    }

    /// The patch as one length-prefixed QUIC stream frame of `codec`.
    pub(crate) fn quic(&self, codec: Codec) -> Bytes {
        match codec {
            Codec::MsgPack => self.msgpack_prefixed.clone(),
            Codec::Json => self.json_prefixed.clone(),
        }
    }
}

/// What every connection of one floor shares, whatever its transport.
#[derive(Debug)]
pub(crate) struct FloorCtx {
    /// The state a joining client gets.
    snapshot: Value,
    /// Sessions opened so far (for session ids).
    sessions: AtomicU64,
    /// The QUIC endpoint `handshake.ok` announces.
    quic: Option<QuicInfo>,
    /// Limits for decoding client frames (those of `arbiter`).
    pub(crate) limits: Limits,
}

/// One handshaken client: its codec and whether it is in the room.
#[derive(Debug)]
pub(crate) struct Session {
    /// The negotiated codec.
    pub(crate) codec: Codec,
    /// Joined (gets the tick's patch).
    pub(crate) joined: bool,
}

/// The answer to a connection's first frame.
#[derive(Debug)]
pub(crate) enum Opening {
    /// Accepted: the session and its `handshake.ok`.
    Session(Session, ServerFrame),
    /// Refused: the `error` to send before closing.
    Refused(ServerFrame),
}

impl FloorCtx {
    fn new(players: usize, quic: Option<QuicInfo>) -> FloorCtx {
        FloorCtx {
            snapshot: snapshot_state(players),
            sessions: AtomicU64::new(0),
            quic,
            limits: Limits::default(),
        }
    }

    /// Answers a handshake (the first frame, JSON on both transports).
    pub(crate) fn open(&self, first: &[u8]) -> Result<Opening> {
        let codec = match decode_handshake(first).and_then(|h| h.negotiate()) {
            Ok(codec) => codec,
            Err(e) => return Ok(Opening::Refused(e.to_reply())),
        };
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let session_id = SessionId::new(format!("s_floor{n:015}"))
            .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
        let ok = ServerFrame::new(HandshakeOk {
            codec,
            session_id,
            resume_token: "floor".to_owned(),
            resumed: false,
            heartbeat_ms: 15_000,
            quic: self.quic.clone(),
        });
        let session = Session {
            codec,
            joined: false,
        };
        Ok(Opening::Session(session, ok))
    }

    /// Decodes one client frame in the session's codec and returns the
    /// frames that answer it (none for an undecodable frame).
    pub(crate) fn answer(&self, session: &mut Session, bytes: &[u8]) -> Vec<ServerFrame> {
        match session.codec.decode_client(bytes, &self.limits) {
            Ok(frame) => answer(frame, &self.snapshot, &mut session.joined),
            Err(_) => Vec::new(),
        }
    }
}

/// Serves the floor until `shutdown` completes: WebSocket on `listener` and,
/// when given, QUIC on `quic` (announced in every `handshake.ok`). Spawns one
/// task per connection and one ticker on the current tokio runtime.
pub async fn serve_floor(
    listener: TcpListener,
    quic: Option<FloorQuic>,
    opts: FloorOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // A broadcast, not a watch: a connection task that runs late still
    // writes every tick's frame (a watch would skip to the latest).
    let (tick_tx, _) = broadcast::channel::<Arc<TickFrames>>(16);
    let ticker = tokio::spawn(tick(tick_tx.clone(), opts));
    let ctx = Arc::new(FloorCtx::new(
        opts.players,
        quic.as_ref().map(FloorQuic::info),
    ));
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let conn = connection(tcp, tick_tx.subscribe(), ctx.clone(), opts.read_buffer);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("floor connection ended: {e}");
                    }
                });
            }
            incoming = accept_quic(quic.as_ref()) => {
                let Some(incoming) = incoming else {
                    break Err(LoadgenError::Quic("the QUIC endpoint closed".into()));
                };
                let conn = floor_quic::connection(incoming, tick_tx.subscribe(), ctx.clone());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("floor QUIC connection ended: {e}");
                    }
                });
            }
        }
    };
    if let Some(quic) = &quic {
        quic.stop_accepting();
    }
    ticker.abort();
    result
}

/// The next QUIC connection; never, without a QUIC endpoint. `None`: the
/// endpoint closed.
async fn accept_quic(quic: Option<&FloorQuic>) -> Option<quinn::Incoming> {
    match quic {
        Some(quic) => quic.accept().await,
        None => std::future::pending().await,
    }
}

/// Builds and publishes each tick's patch.
async fn tick(tx: broadcast::Sender<Arc<TickFrames>>, opts: FloorOptions) {
    let mut interval = tokio::time::interval(opts.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let room = RoomId::new("arena-100").ok();
    for seq in 1u64.. {
        interval.tick().await;
        let Some(room) = room.clone() else { return };
        match encode_tick(&patch(seq, opts.players, room)) {
            Ok(frames) => {
                // No receiver (no client yet) is not an error.
                let _ = tx.send(Arc::new(frames));
            }
            Err(e) => {
                tracing::error!("floor: cannot encode the tick patch: {e}");
                return;
            }
        }
    }
}

/// The session id of simulated player `k` (the shape of a real one).
fn player_id(k: usize) -> String {
    format!("s_{k:020x}")
}

/// A patch in which every player moved: `x` and `y` set for each, plus the
/// checksum every real patch carries.
fn patch(seq: u64, players: usize, room: RoomId) -> ServerFrame {
    let ops = (0..players)
        .flat_map(|k| {
            let x = seq + 1000 * k as u64;
            [("x", x), ("y", x % 500)].map(|(axis, v)| PatchOp::Set {
                path: format!("/players/{}/{axis}", player_id(k)),
                value: json!(v),
            })
        })
        .collect();
    ServerFrame::new(StatePatch {
        seq: Seq(seq),
        ops,
        checksum: Some(Checksum(0x9e37_79b9_7f4a_7c15 ^ seq)),
    })
    .in_room(room)
}

/// The state a joining client gets: the room's players.
fn snapshot_state(players: usize) -> Value {
    let players: Map<String, Value> = (0..players)
        .map(|k| (player_id(k), json!({ "x": 0, "y": 0 })))
        .collect();
    json!({ "players": players })
}

fn encode_tick(frame: &ServerFrame) -> Result<TickFrames> {
    let json_prefixed = floor_quic::prefixed(Codec::Json, frame)?;
    let msgpack_prefixed = floor_quic::prefixed(Codec::MsgPack, frame)?;
    let json = Utf8Bytes::try_from(json_prefixed.slice(floor_quic::PREFIX..))
        .map_err(|_| LoadgenError::Protocol("JSON patch is not UTF-8".into()))?;
    Ok(TickFrames {
        json,
        msgpack: msgpack_prefixed.slice(floor_quic::PREFIX..),
        json_prefixed,
        msgpack_prefixed,
    })
}

fn encode(codec: Codec, frame: &ServerFrame) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    codec
        .encode_server(frame, &mut buf)
        .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
    Ok(buf)
}

/// The next tick's frames (a connection that fell behind skips to the ones
/// still buffered); `None` once the ticker has stopped.
pub(crate) async fn next_tick(
    ticks: &mut broadcast::Receiver<Arc<TickFrames>>,
) -> Option<Arc<TickFrames>> {
    loop {
        match ticks.recv().await {
            Ok(frames) => return Some(frames),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// `frame` as one WebSocket message of `codec`.
fn message(codec: Codec, frame: &ServerFrame) -> Result<Message> {
    let bytes = encode(codec, frame)?;
    if codec.is_binary() {
        return Ok(Message::binary(bytes));
    }
    String::from_utf8(bytes)
        .map(Message::text)
        .map_err(|_| LoadgenError::Protocol("JSON frame is not UTF-8".into()))
}

/// One WebSocket client: handshake, then frames in and patches out until it
/// leaves.
async fn connection(
    tcp: TcpStream,
    mut ticks: broadcast::Receiver<Arc<TickFrames>>,
    ctx: Arc<FloorCtx>,
    read_buffer: usize,
) -> Result<()> {
    tcp.set_nodelay(true)?;
    let config = crate::wire::ws_config(read_buffer);
    let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await?;
    let text = match ws.next().await {
        Some(Ok(Message::Text(text))) => text,
        _ => return Ok(()),
    };
    let mut session = match ctx.open(text.as_bytes())? {
        Opening::Session(session, ok) => {
            ws.send(message(Codec::Json, &ok)?).await?;
            session
        }
        Opening::Refused(reply) => {
            ws.send(message(Codec::Json, &reply)?).await?;
            return Ok(());
        }
    };
    loop {
        tokio::select! {
            msg = ws.next() => {
                let msg = match msg {
                    None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return Ok(()),
                    Some(Ok(msg)) => msg,
                };
                let bytes: &[u8] = match &msg {
                    Message::Binary(b) => b,
                    Message::Text(t) => t.as_bytes(),
                    _ => continue,
                };
                for reply in ctx.answer(&mut session, bytes) {
                    ws.send(message(session.codec, &reply)?).await?;
                }
            }
            tick = next_tick(&mut ticks) => {
                let Some(frames) = tick else { return Ok(()) };
                if session.joined {
                    ws.send(frames.ws(session.codec)).await?;
                }
            }
        }
    }
}

/// The frames that answer one client frame.
fn answer(frame: ClientFrame, snapshot: &Value, joined: &mut bool) -> Vec<ServerFrame> {
    let rid = frame.rid.clone();
    let respond = |ok: RpcOk| {
        ServerFrame::new(ServerMessage::RpcResponse(RpcResponse::Ok(ok))).with_rid(rid.clone())
    };
    match frame.msg {
        ClientMessage::RoomJoinOrCreate(join) => {
            let Some(room) = join.room.or_else(|| RoomId::new("arena-0").ok()) else {
                return Vec::new();
            };
            *joined = true;
            let snapshot = ServerFrame::new(StateSnapshot {
                state: snapshot.clone(),
                seq: Seq(0),
                checksum: Checksum(0x9e37_79b9_7f4a_7c15),
            })
            .in_room(room.clone());
            let joined = Joined {
                room,
                room_type: join.room_type,
                created: false,
            };
            vec![respond(RpcOk::Joined(joined)), snapshot]
        }
        ClientMessage::RoomLeave(_) => {
            *joined = false;
            vec![respond(RpcOk::Done)]
        }
        ClientMessage::Ping(ping) => vec![ServerFrame::new(Pong {
            ts: ping.ts,
            server_ts: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        })],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_patch_is_an_arena_patch_in_both_codecs() {
        let room = RoomId::new("arena-100").unwrap();
        let frames = encode_tick(&patch(42, 8, room)).unwrap();
        for (codec, bytes) in [
            (Codec::Json, frames.json.as_bytes()),
            (Codec::MsgPack, &frames.msgpack[..]),
        ] {
            let frame = codec
                .decode_server(bytes, &Limits::for_server_frames())
                .unwrap();
            let ServerMessage::StatePatch(p) = frame.msg else {
                panic!("not a patch")
            };
            assert_eq!(p.seq, Seq(42));
            assert_eq!(p.ops.len(), 16);
            assert!(p.checksum.is_some());
            // The QUIC frame is the same bytes after their length.
            let quic = frames.quic(codec);
            assert_eq!(&quic[floor_quic::PREFIX..], bytes);
            assert_eq!(quic[..4], (bytes.len() as u32).to_be_bytes());
        }
    }

    #[test]
    fn handshakes_announce_quic_and_bad_input_is_answered_or_ignored() {
        let info = QuicInfo {
            port: 4434,
            cert_sha256: "ab".repeat(32),
        };
        let ctx = FloorCtx::new(8, Some(info.clone()));
        let hello = br#"{"v":1,"t":"handshake","p":{"v":1,"codecs":["msgpack"],"project_id":"p"}}"#;
        let Opening::Session(mut session, ok) = ctx.open(hello).unwrap() else {
            panic!("refused")
        };
        assert_eq!(session.codec, Codec::MsgPack);
        let ServerMessage::HandshakeOk(ok) = ok.msg else {
            panic!("not handshake.ok")
        };
        assert_eq!(ok.quic, Some(info));
        assert!(matches!(
            ctx.open(b"\xff not json").unwrap(),
            Opening::Refused(_)
        ));
        assert!(ctx.answer(&mut session, b"\xc1 garbage").is_empty());
        assert!(!session.joined);
    }

    #[test]
    fn joins_are_answered_with_a_response_and_a_snapshot() {
        let join = arbiter_protocol::ClientFrame::new(arbiter_protocol::JoinOrCreate {
            room_type: "arena".into(),
            room: Some(RoomId::new("arena-3").unwrap()),
            options: None,
        })
        .with_rid("r1");
        let mut joined = false;
        let replies = answer(join, &snapshot_state(8), &mut joined);
        assert!(joined);
        assert_eq!(replies.len(), 2);
        assert!(matches!(replies[0].msg, ServerMessage::RpcResponse(_)));
        assert_eq!(replies[0].rid, Some(arbiter_protocol::Rid::from("r1")));
        assert!(matches!(replies[1].msg, ServerMessage::StateSnapshot(_)));
    }
}
