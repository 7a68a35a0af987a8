//! [`Ctx`]: what a hook can see and do besides its own arguments.

use serde::Serialize;
use serde_json::Value;

use crate::abi::{Client, OutMessage, Target};
use crate::error::Result;
use crate::state::State;

/// Severity of a log line, as the `log` import numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something is broken.
    Error = 0,
    /// Something is odd.
    Warn = 1,
    /// Something worth knowing.
    Info = 2,
    /// Detail for whoever debugs the room.
    Debug = 3,
    /// Even more detail.
    Trace = 4,
}

/// What the SDK needs from whoever runs it: the host imports in WASM, a seeded
/// generator and a log buffer in the test harness.
pub(crate) trait HostEnv {
    /// The room's next random value.
    fn random_u64(&mut self) -> u64;
    /// One log line.
    fn log(&mut self, level: Level, message: &str);
}

/// The non-state effects of a hook, gathered for its output.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) messages: Vec<OutMessage>,
    pub(crate) lock: Option<bool>,
    pub(crate) metadata: Option<Value>,
    pub(crate) close: Option<String>,
}

impl Outbox {
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.lock = None;
        self.metadata = None;
        self.close = None;
    }
}

/// Who the room is: set by create and restore.
#[derive(Debug, Default)]
pub(crate) struct RoomEnv {
    pub(crate) room_id: String,
    pub(crate) room_type: String,
    pub(crate) options: Value,
    pub(crate) clients: Vec<Client>,
}

/// A message to send: JSON (`room.message`) or bytes (`room.message.bytes`),
/// to everyone by default, reliable by default.
///
/// ```
/// use arbiter_plugin_sdk::Message;
/// use serde_json::json;
///
/// let hit = Message::json("hit", json!({ "dmg": 3 })).to_all_but("s_shooter").unreliable();
/// let inner = hit.into_inner();
/// assert!(inner.unreliable);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message(OutMessage);

impl Message {
    fn new(kind: String, data: Option<Value>, bytes: Option<Vec<u8>>) -> Self {
        Message(OutMessage {
            to: Target::All,
            kind,
            data,
            bytes,
            unreliable: false,
            from: None,
        })
    }

    /// A `room.message` of type `kind` carrying `data`.
    pub fn json(kind: impl Into<String>, data: impl Into<Value>) -> Self {
        Self::new(kind.into(), Some(data.into()), None)
    }

    /// A `room.message` whose data is any serializable value.
    pub fn serialize<T: Serialize + ?Sized>(kind: impl Into<String>, data: &T) -> Result<Self> {
        Ok(Self::json(kind, serde_json::to_value(data)?))
    }

    /// A `room.message.bytes` of type `kind`.
    pub fn bytes(kind: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(kind.into(), None, Some(bytes.into()))
    }

    /// Send to one client.
    pub fn to(mut self, session_id: impl Into<String>) -> Self {
        self.0.to = Target::One(session_id.into());
        self
    }

    /// Send to every client (the default).
    pub fn to_all(mut self) -> Self {
        self.0.to = Target::All;
        self
    }

    /// Send to every client but one (usually the one it came from).
    pub fn to_all_but(mut self, session_id: impl Into<String>) -> Self {
        self.0.to = Target::AllBut(session_id.into());
        self
    }

    /// Unreliable intent: may be dropped, may travel as a datagram. For transient
    /// data only (positions, aim).
    pub fn unreliable(mut self) -> Self {
        self.0.unreliable = true;
        self
    }

    /// Shows `session_id` to the recipients as the message's `from`.
    pub fn from_client(mut self, session_id: impl Into<String>) -> Self {
        self.0.from = Some(session_id.into());
        self
    }

    /// The ABI form of the message.
    pub fn into_inner(self) -> OutMessage {
        self.0
    }
}

/// The context of one hook call: the state, time, randomness, the clients, and
/// the room-level requests (messages, lock, metadata, close).
///
/// Everything done through it is part of the hook's output and shares its fate:
/// committed when the hook returns `Ok`, discarded when it returns `Err`.
pub struct Ctx<'a> {
    pub(crate) state: &'a mut State,
    pub(crate) out: &'a mut Outbox,
    pub(crate) env: &'a RoomEnv,
    pub(crate) host: &'a mut dyn HostEnv,
    pub(crate) now_ms: u64,
    pub(crate) dt_ms: u64,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("room_id", &self.env.room_id)
            .field("now_ms", &self.now_ms)
            .field("dt_ms", &self.dt_ms)
            .finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    /// The state document: read it, and write it with ops the host will commit.
    pub fn state(&mut self) -> &mut State {
        self.state
    }

    /// Host time of this call, milliseconds since the Unix epoch. The only clock a
    /// plugin has: the same inputs give the same run.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Milliseconds since the previous tick, in a tick; 0 in other hooks.
    pub fn dt_ms(&self) -> u64 {
        self.dt_ms
    }

    /// The room id.
    pub fn room_id(&self) -> &str {
        &self.env.room_id
    }

    /// The room type.
    pub fn room_type(&self) -> &str {
        &self.env.room_type
    }

    /// The options the room was created with.
    pub fn options(&self) -> &Value {
        &self.env.options
    }

    /// The clients in the room, in join order. A joining client is not in it yet,
    /// a leaving one no longer is.
    pub fn clients(&self) -> &[Client] {
        &self.env.clients
    }

    /// Queues a message built with [`Message`].
    pub fn send(&mut self, message: Message) {
        self.out.messages.push(message.0);
    }

    /// Sends a reliable `room.message` to one client.
    pub fn send_to(&mut self, session_id: &str, kind: &str, data: impl Into<Value>) {
        self.send(Message::json(kind, data).to(session_id));
    }

    /// Sends a reliable `room.message` to every client.
    pub fn broadcast(&mut self, kind: &str, data: impl Into<Value>) {
        self.send(Message::json(kind, data));
    }

    /// Sends a reliable `room.message` to every client but `session_id`.
    pub fn broadcast_except(&mut self, session_id: &str, kind: &str, data: impl Into<Value>) {
        self.send(Message::json(kind, data).to_all_but(session_id));
    }

    /// Answers a client's bad request with a `room.message` of type `error` and
    /// data `{ "reason": reason }`: the convention of the reference rooms.
    pub fn send_error(&mut self, session_id: &str, reason: impl Into<String>) {
        let reason: String = reason.into();
        self.send_to(session_id, "error", serde_json::json!({ "reason": reason }));
    }

    /// The default answer to a message type the room does not handle.
    pub(crate) fn reply_unknown_type(&mut self, client: &Client, kind: &str) {
        let reason = format!(
            "room type `{}` does not handle messages of type `{kind}`",
            self.env.room_type
        );
        self.send_error(&client.session_id, reason);
    }

    /// Locks the room: no new client may join until [`Ctx::unlock`].
    pub fn lock(&mut self) {
        self.out.lock = Some(true);
    }

    /// Unlocks the room.
    pub fn unlock(&mut self) {
        self.out.lock = Some(false);
    }

    /// Replaces the public metadata shown by `room.list`.
    pub fn set_metadata(&mut self, metadata: impl Into<Value>) {
        self.out.metadata = Some(metadata.into());
    }

    /// Closes the room once this hook's changes are sent; clients get
    /// `room.closed` with `reason`.
    pub fn close(&mut self, reason: impl Into<String>) {
        self.out.close = Some(reason.into());
    }

    /// 64 random bits from the room's seeded generator (the only randomness a
    /// plugin has, so that a room's run can be replayed).
    pub fn random_u64(&mut self) -> u64 {
        self.host.random_u64()
    }

    /// A uniform float in `[0, 1)`.
    pub fn random_f64(&mut self) -> f64 {
        // The top 53 bits fill a double's mantissa exactly.
        (self.random_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, bound)`; 0 when `bound` is 0. Unbiased.
    pub fn random_below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Rejection sampling: draw again in the incomplete top bucket.
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let x = self.random_u64();
            if x < zone {
                return x % bound;
            }
        }
    }

    /// Writes one line to the host's log (truncated and rate-limited there).
    pub fn log(&mut self, level: Level, message: &str) {
        self.host.log(level, message);
    }

    /// [`Ctx::log`] at [`Level::Info`].
    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message);
    }

    /// [`Ctx::log`] at [`Level::Warn`].
    pub fn warn(&mut self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// [`Ctx::log`] at [`Level::Debug`].
    pub fn debug(&mut self, message: &str) {
        self.log(Level::Debug, message);
    }
}
