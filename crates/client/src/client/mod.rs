//! [`Client`]: the async client (WebSocket or QUIC). A handle plus one
//! background task that owns the connection (see the crate docs for the
//! model).

mod conn;
mod link;
mod quic;
mod task;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arbiter_protocol::{
    ClientFrame, Codec, Dequeue, Enqueue, HandshakeOk, JoinOrCreate, Joined, LeaveRoom, ListRooms,
    PresenceSet, QuicInfo, RoomBytes, RoomId, RoomInfo, RoomMessage, RpcOk, Seq, SessionId,
    StateResync, TicketId,
};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::{ClientConfig, QuicTarget, QuicTrust, Transport};
use crate::core::{Core, RpcResult};
use crate::error::ClientError;
use crate::event::Event;
use crate::replica::Replica;
use link::Out;
pub use quic::RawQuic;
use task::{Command, Task};

/// What completes a request in the shell.
pub(crate) type Reply = oneshot::Sender<RpcResult>;

/// The session details from the last `handshake.ok`.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) session_id: SessionId,
    pub(crate) resume_token: String,
    pub(crate) codec: Codec,
    pub(crate) heartbeat_ms: u32,
    pub(crate) quic: Option<QuicInfo>,
}

impl From<HandshakeOk> for SessionInfo {
    fn from(ok: HandshakeOk) -> SessionInfo {
        SessionInfo {
            session_id: ok.session_id,
            resume_token: ok.resume_token,
            codec: ok.codec,
            heartbeat_ms: ok.heartbeat_ms,
            quic: ok.quic,
        }
    }
}

/// Counters of the unreliable path, updated by the task.
#[derive(Debug, Default)]
pub(crate) struct DatagramCounters {
    pub(crate) attempts: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) over_stream: AtomicU64,
    pub(crate) received: AtomicU64,
}

/// What happened to this client's unreliable frames so far
/// ([`Client::datagram_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatagramStats {
    /// Unreliable frames sent as QUIC datagrams.
    pub sent: u64,
    /// Datagrams dropped on purpose (`datagram_drop_every`).
    pub dropped: u64,
    /// Unreliable frames sent over the reliable path: no QUIC path, too large
    /// for a datagram, or the datagram could not be sent.
    pub over_stream: u64,
    /// Datagrams received from the server.
    pub received: u64,
}

/// State shared by the handle and the task. Locks are never held across an
/// `.await`.
pub(crate) struct Shared {
    core: Mutex<Core<Reply>>,
    session: Mutex<SessionInfo>,
    datagrams: DatagramCounters,
    /// Bumped by the task when a replica changes; closed when the task ends.
    version: watch::Receiver<u64>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core<Reply>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session(&self) -> MutexGuard<'_, SessionInfo> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Encodes a client frame, labelled with the codec's WebSocket message kind.
pub(crate) fn encode(codec: Codec, frame: &ClientFrame) -> Result<Out, ClientError> {
    let mut buf = Vec::new();
    codec.encode_client(frame, &mut buf)?;
    if !codec.is_binary() && std::str::from_utf8(&buf).is_err() {
        return Err(ClientError::Protocol(
            "a JSON frame encoded to invalid UTF-8".into(),
        ));
    }
    Ok(Out {
        bytes: buf.into(),
        text: !codec.is_binary(),
    })
}

/// Validates a room id argument.
fn room_id(room: impl AsRef<str>) -> Result<RoomId, ClientError> {
    Ok(RoomId::new(room.as_ref())?)
}

/// `None` or a JSON object, as an optional map.
fn object(what: &str, value: Option<Value>) -> Result<Option<Map<String, Value>>, ClientError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ClientError::InvalidInput(format!(
            "{what} must be a JSON object"
        ))),
    }
}

fn unexpected(request: &str, ok: &RpcOk) -> ClientError {
    ClientError::Protocol(format!("unexpected answer to {request}: {ok:?}"))
}

/// Removes a request from the pending table unless disarmed (its answer came).
struct PendingGuard<'a> {
    shared: &'a Shared,
    rid: Option<arbiter_protocol::Rid>,
}

impl PendingGuard<'_> {
    fn disarm(mut self) {
        self.rid = None;
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(rid) = self.rid.take() {
            self.shared.core().cancel(&rid);
        }
    }
}

/// A connected Arbiter session over WebSocket or QUIC.
///
/// Requests (`join_or_create`, `list`, …) return the server's answer; messages
/// (`send_message`) are fire-and-forget; everything else the server sends
/// arrives as an [`Event`] through [`Client::next_event`], and room state is
/// kept in per-room [`Replica`]s read with [`Client::state`]. The socket is
/// owned by a background task: dropping the `Client` closes the connection.
pub struct Client {
    config: ClientConfig,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.config.url)
            .field("session_id", &self.shared.session().session_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects over `config.transport`, performs the handshake and starts the
    /// background task (which needs a tokio runtime with timers). Bounded by
    /// `connect_timeout`.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let (link, ok) = tokio::time::timeout(config.connect_timeout, conn::open(&config, None))
            .await
            .map_err(|_| ClientError::Timeout)??;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (version_tx, version_rx) = watch::channel(0);
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(config.ack_every, config.state_events)),
            session: Mutex::new(SessionInfo::from(ok)),
            datagrams: DatagramCounters::default(),
            version: version_rx,
        });
        let task = Task {
            config: config.clone(),
            shared: Arc::clone(&shared),
            commands: command_rx,
            events: event_tx,
            version: version_tx,
            backlog: VecDeque::new(),
            attachment: None,
        };
        tokio::spawn(task.run(link));
        Ok(Client {
            config,
            shared,
            commands,
            events,
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current session's id (it changes after [`Event::SessionLost`]).
    pub fn session_id(&self) -> SessionId {
        self.shared.session().session_id.clone()
    }

    /// The current session's resume token.
    pub fn resume_token(&self) -> String {
        self.shared.session().resume_token.clone()
    }

    /// The negotiated codec.
    pub fn codec(&self) -> Codec {
        self.shared.session().codec
    }

    /// The server's `heartbeat_ms` from the last `handshake.ok`.
    pub fn heartbeat_ms(&self) -> u32 {
        self.shared.session().heartbeat_ms
    }

    /// The QUIC endpoint the server announced in its last `handshake.ok`.
    pub fn quic_info(&self) -> Option<QuicInfo> {
        self.shared.session().quic.clone()
    }

    /// What happened to this client's unreliable frames so far.
    pub fn datagram_stats(&self) -> DatagramStats {
        let c = &self.shared.datagrams;
        DatagramStats {
            sent: c.sent.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            over_stream: c.over_stream.load(Relaxed),
            received: c.received.load(Relaxed),
        }
    }

    /// Attaches a QUIC connection to this WebSocket session as its unreliable
    /// path (PROTOCOL.md §8): connects to the `quic.port` of `handshake.ok`
    /// on the WebSocket URL's host, pinning `quic.cert_sha256`, and sends
    /// `session.attach`. From then on unreliable messages go as datagrams
    /// (when they fit) and the server's unreliable frames arrive as
    /// datagrams. Bounded by `connect_timeout`.
    ///
    /// Errors: [`ClientError::InvalidInput`] when the server offers no QUIC
    /// or this is a QUIC-only session; [`ClientError::Rejected`] with
    /// `auth.invalid_token` when the server refuses the pair.
    pub async fn attach_quic(&self) -> Result<(), ClientError> {
        let info = self.quic_info().ok_or_else(|| {
            ClientError::InvalidInput("the server announced no QUIC endpoint".into())
        })?;
        let (host, _) = conn::ws_host(&self.config.url)?;
        let addr = if host.contains(':') {
            format!("[{host}]:{}", info.port)
        } else {
            format!("{host}:{}", info.port)
        };
        let target = QuicTarget::new(addr, QuicTrust::Sha256(info.cert_sha256));
        self.attach_quic_to(target).await
    }

    /// Like [`Client::attach_quic`], to an explicit QUIC target (another
    /// address, or a CA-trusted certificate).
    pub async fn attach_quic_to(&self, target: QuicTarget) -> Result<(), ClientError> {
        if matches!(self.config.transport, Transport::Quic(_)) {
            return Err(ClientError::InvalidInput(
                "a QUIC-only session already has datagrams; attach is for WebSocket sessions"
                    .into(),
            ));
        }
        let (session_id, resume_token) = {
            let info = self.shared.session();
            (info.session_id.clone(), info.resume_token.clone())
        };
        let attach = conn::attach(&target, session_id, resume_token);
        let link = tokio::time::timeout(self.config.connect_timeout, attach)
            .await
            .map_err(|_| ClientError::Timeout)??;
        let (ack, done) = oneshot::channel();
        self.command(Command::Attach(Box::new(link), ack))?;
        done.await.map_err(|_| ClientError::Closed)
    }

    /// Whether the client is closed (by [`Client::close`] or a failed resume).
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed() || self.shared.core().is_closed()
    }

    /// Sends a request (a type of PROTOCOL.md §4's list, else
    /// [`ClientError::InvalidInput`]) and waits for its `rpc.response` (or the
    /// `error` that answers it). The frame's `rid` is replaced by a fresh
    /// `"c-N"`.
    ///
    /// Errors: [`ClientError::Rpc`] for `ok: false`, [`ClientError::Timeout`]
    /// after `request_timeout`, [`ClientError::ConnectionLost`] if the
    /// transport dropped after the frame was sent. A request made while the
    /// client is reconnecting is sent once the session is resumed.
    pub async fn request(&self, mut frame: ClientFrame) -> Result<RpcOk, ClientError> {
        let ty = frame.msg.message_type();
        if !ty.is_request() {
            return Err(ClientError::InvalidInput(format!(
                "{ty} is not a request type and gets no answer; use Client::send"
            )));
        }
        let (reply, answer) = oneshot::channel();
        let rid = self.shared.core().register(&mut frame, reply)?;
        let sent = encode(self.codec(), &frame).and_then(|message| {
            self.commands
                .send(Command::Request(rid.clone(), message))
                .map_err(|_| ClientError::Closed)
        });
        if let Err(e) = sent {
            self.shared.core().cancel(&rid);
            return Err(e);
        }
        // Forgets the request if this future is dropped or times out.
        let guard = PendingGuard {
            shared: &self.shared,
            rid: Some(rid),
        };
        let result = match tokio::time::timeout(self.config.request_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => return Err(ClientError::Timeout),
        };
        guard.disarm();
        result
    }

    /// Sends a frame without waiting for anything (its `rid`, if any, is kept).
    pub fn send(&self, frame: &ClientFrame) -> Result<(), ClientError> {
        let message = encode(self.codec(), frame)?;
        self.command(Command::Send(message))
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        self.commands.send(command).map_err(|_| ClientError::Closed)
    }

    /// `room.join_or_create`: joins `room` (or creates it with that id), or
    /// without `room` any open room of `room_type` with a free seat. `options`
    /// (a JSON object) go to the plugin's hooks.
    ///
    /// Returns once the answer *and* the room's snapshot have arrived, so
    /// [`Client::state`] has the room's state (bounded by `request_timeout`).
    pub async fn join_or_create(
        &self,
        room_type: &str,
        room: Option<&str>,
        options: Option<Value>,
    ) -> Result<Joined, ClientError> {
        let payload = JoinOrCreate {
            room_type: room_type.to_owned(),
            room: room.map(room_id).transpose()?,
            options: object("options", options)?,
        };
        let joined = match self.request(ClientFrame::new(payload)).await? {
            RpcOk::Joined(joined) => joined,
            other => return Err(unexpected("room.join_or_create", &other)),
        };
        self.wait_until(
            joined.room.as_str(),
            |_| Some(()),
            self.config.request_timeout,
        )
        .await?;
        Ok(joined)
    }

    /// `room.leave`; the room's replica is dropped once the server confirms.
    pub async fn leave(&self, room: impl AsRef<str>) -> Result<(), ClientError> {
        let frame = ClientFrame::new(LeaveRoom {
            room: room_id(room)?,
        });
        self.request(frame).await.map(drop)
    }

    /// `room.list`: the rooms of `room_type`, or of every type.
    pub async fn list(&self, room_type: Option<&str>) -> Result<Vec<RoomInfo>, ClientError> {
        let frame = ClientFrame::new(ListRooms {
            room_type: room_type.map(str::to_owned),
        });
        match self.request(frame).await? {
            RpcOk::Rooms(rooms) => Ok(rooms),
            // `{ ok: true }` without `rooms`: read as no room.
            RpcOk::Done => Ok(Vec::new()),
            other => Err(unexpected("room.list", &other)),
        }
    }

    /// `room.message` `{ type: kind, data }` to the room's plugin
    /// (fire-and-forget; a failure comes back as [`Event::Error`] or a plugin
    /// message). A `kind` of [`ClientConfig::unreliable_types`] goes as a
    /// QUIC datagram when the session has a QUIC path and the frame fits.
    pub fn send_message(
        &self,
        room: impl AsRef<str>,
        kind: impl Into<String>,
        data: Value,
    ) -> Result<(), ClientError> {
        let room = room_id(room)?;
        let kind = kind.into();
        let unreliable = self.config.is_unreliable(&kind);
        let frame = ClientFrame::new(RoomMessage { kind, data }).in_room(room);
        if unreliable {
            let out = encode(self.codec(), &frame)?;
            return self.command(Command::Unreliable(out));
        }
        self.send(&frame)
    }

    /// `room.message.bytes` `{ type: kind, data_b64 }` (fire-and-forget).
    pub fn send_bytes(
        &self,
        room: impl AsRef<str>,
        kind: impl Into<String>,
        data: Vec<u8>,
    ) -> Result<(), ClientError> {
        let room = room_id(room)?;
        let msg = RoomBytes {
            kind: kind.into(),
            data,
        };
        self.send(&ClientFrame::new(msg).in_room(room))
    }

    /// `presence.set`: this client's presence state in the room.
    pub async fn presence_set(
        &self,
        room: impl AsRef<str>,
        state: Value,
    ) -> Result<(), ClientError> {
        let frame = ClientFrame::new(PresenceSet {
            room: room_id(room)?,
            state,
        });
        self.request(frame).await.map(drop)
    }

    /// `state.resync`: asks for a fresh snapshot of the room (also after
    /// [`Event::ReplicaFailed`]). Returns on the server's answer; the snapshot
    /// arrives as [`Event::Snapshot`].
    pub async fn resync(&self, room: impl AsRef<str>) -> Result<(), ClientError> {
        let frame = ClientFrame::new(StateResync {
            room: room_id(room)?,
            reason: Some("client".to_owned()),
        });
        self.request(frame).await.map(drop)
    }

    /// `matchmaking.enqueue`: queues for a match of `size` players; `properties`
    /// (a JSON object) are matched by the server. [`Event::MatchFound`] follows.
    pub async fn enqueue(
        &self,
        room_type: &str,
        size: u32,
        properties: Option<Value>,
    ) -> Result<TicketId, ClientError> {
        let frame = ClientFrame::new(Enqueue {
            room_type: room_type.to_owned(),
            size,
            properties: object("properties", properties)?,
            party: None,
        });
        match self.request(frame).await? {
            RpcOk::Enqueued { ticket } => Ok(ticket),
            other => Err(unexpected("matchmaking.enqueue", &other)),
        }
    }

    /// `matchmaking.dequeue`: leaves the queue of `room_type`, or every queue.
    /// Returns how many tickets were removed.
    pub async fn dequeue(&self, room_type: Option<&str>) -> Result<u32, ClientError> {
        let frame = ClientFrame::new(Dequeue {
            room_type: room_type.map(str::to_owned),
        });
        match self.request(frame).await? {
            RpcOk::Dequeued { removed } => Ok(removed),
            other => Err(unexpected("matchmaking.dequeue", &other)),
        }
    }

    /// A copy of the room's state, once its first snapshot arrived.
    pub fn state(&self, room: impl AsRef<str>) -> Option<Value> {
        self.with_replica(room, |r| r.state().clone())
    }

    /// The rooms this client holds a replica of (joined, snapshot received).
    pub fn rooms(&self) -> Vec<RoomId> {
        self.shared.core().rooms()
    }

    /// The room's state seq.
    pub fn seq(&self, room: impl AsRef<str>) -> Option<Seq> {
        self.with_replica(room, Replica::seq)
    }

    /// Runs `f` on the room's replica without copying it. `f` runs under the
    /// client's lock: keep it short and do not call the client from it.
    pub fn with_replica<T>(
        &self,
        room: impl AsRef<str>,
        f: impl FnOnce(&Replica) -> T,
    ) -> Option<T> {
        self.shared.core().replica(room.as_ref()).map(f)
    }

    /// Waits until the room's state satisfies `predicate` and returns a copy of
    /// it. Event-driven (woken by every replica change), bounded by `timeout`;
    /// [`ClientError::Closed`] if the client closes meanwhile. `predicate` runs
    /// under the client's lock: keep it short and do not call the client from it.
    pub async fn wait_for_state(
        &self,
        room: impl AsRef<str>,
        mut predicate: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let check = |r: &Replica| predicate(r.state()).then(|| r.state().clone());
        self.wait_until(room.as_ref(), check, timeout).await
    }

    /// Like [`Client::wait_for_state`], with the whole replica (seq, checksum).
    pub async fn wait_for_replica(
        &self,
        room: impl AsRef<str>,
        mut predicate: impl FnMut(&Replica) -> bool,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let check = |r: &Replica| predicate(r).then_some(());
        self.wait_until(room.as_ref(), check, timeout).await
    }

    async fn wait_until<T>(
        &self,
        room: &str,
        mut check: impl FnMut(&Replica) -> Option<T>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.shared.version.clone();
        loop {
            // Mark the current version seen *before* looking, so that a change
            // made after the look wakes the wait below.
            changes.borrow_and_update();
            if let Some(found) = self.shared.core().replica(room).and_then(&mut check) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ClientError::Closed),
                Err(_) => return Err(ClientError::Timeout),
            }
        }
    }

    /// The next event; `None` once the client is closed and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is already queued.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Reads events until one satisfies `predicate` and returns it; the events
    /// read before it are discarded. Bounded by `timeout`.
    pub async fn wait_for_event(
        &mut self,
        mut predicate: impl FnMut(&Event) -> bool,
        timeout: Duration,
    ) -> Result<Event, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if predicate(&event) => return Ok(event),
                Ok(Some(_)) => {}
                Ok(None) => return Err(ClientError::Closed),
                Err(_) => return Err(ClientError::Timeout),
            }
        }
    }

    /// Sends `text` as a WebSocket text message (on QUIC: one stream frame),
    /// verbatim (for tests of hostile input). A test that expects the server
    /// to close the connection should turn `auto_resume` off, or the client
    /// will resume the session.
    pub fn send_raw_text(&self, text: impl Into<String>) -> Result<(), ClientError> {
        let bytes = text.into().into_bytes().into();
        self.command(Command::Send(Out { bytes, text: true }))
    }

    /// Sends `bytes` as a WebSocket binary message (on QUIC: one stream
    /// frame), verbatim.
    pub fn send_raw_binary(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        let bytes = bytes.into();
        self.command(Command::Send(Out { bytes, text: false }))
    }

    /// Sends `bytes` verbatim as one QUIC datagram when the session has a
    /// QUIC path, else as a stream/WebSocket frame of the codec's kind (for
    /// tests of hostile or flooding input). Counts as unreliable.
    pub fn send_raw_datagram(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        let text = !self.codec().is_binary();
        let bytes = bytes.into();
        self.command(Command::Unreliable(Out { bytes, text }))
    }

    /// Drops the connection abruptly (TCP: a reset, no close frame; QUIC: a
    /// close with a non-zero code), as a network failure would; returns once the socket is gone. With
    /// `auto_resume` the client then reconnects and resumes
    /// ([`Event::Disconnected`], then [`Event::Resumed`]).
    pub async fn drop_transport(&self) -> Result<(), ClientError> {
        let (ack, done) = oneshot::channel();
        self.command(Command::DropTransport(ack))?;
        done.await.map_err(|_| ClientError::Closed)
    }

    /// Closes the connection cleanly (close frame, no resume). Waiting requests
    /// fail with [`ClientError::Closed`]; events already received stay
    /// readable, then [`Client::next_event`] returns `None`.
    pub async fn close(&self) -> Result<(), ClientError> {
        let (ack, done) = oneshot::channel();
        if self.command(Command::Close(ack)).is_err() {
            return Ok(()); // already closed
        }
        let _ = done.await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    /// Compiled, never run: every future of the API can be spawned.
    #[allow(dead_code)]
    fn futures_are_send(client: &mut Client) {
        is_send(&client.join_or_create("counter", None, None));
        is_send(&client.request(ClientFrame::new(ListRooms::default())));
        is_send(&client.wait_for_state("r1", |_| true, Duration::ZERO));
        is_send(&client.drop_transport());
        is_send(&client.close());
        is_send(&client.next_event());
    }

    #[test]
    fn the_handle_can_be_shared_across_tasks() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn arguments_are_validated() {
        assert!(room_id("r1").is_ok());
        assert!(matches!(
            room_id("no spaces"),
            Err(ClientError::InvalidInput(_))
        ));
        assert_eq!(object("options", None).ok(), Some(None));
        assert_eq!(object("options", Some(Value::Null)).ok(), Some(None));
        assert!(matches!(
            object("options", Some(serde_json::json!([1]))),
            Err(ClientError::InvalidInput(m)) if m.contains("options")
        ));
    }

    #[test]
    fn frames_use_the_codecs_message_kind() {
        let frame = ClientFrame::new(ListRooms::default()).with_rid("c-1");
        assert!(
            matches!(encode(Codec::Json, &frame), Ok(Out { bytes, text: true }) if bytes.windows(9).any(|w| w == b"room.list"))
        );
        assert!(matches!(
            encode(Codec::MsgPack, &frame),
            Ok(Out { text: false, .. })
        ));
    }

    #[tokio::test]
    async fn only_request_types_can_be_requests() {
        let (commands, _command_rx) = mpsc::unbounded_channel();
        let (_event_tx, events) = mpsc::unbounded_channel();
        let (_version_tx, version) = watch::channel(0);
        let ok = HandshakeOk {
            codec: Codec::Json,
            session_id: SessionId::new("s_1").expect("valid"),
            resume_token: "t".into(),
            resumed: false,
            heartbeat_ms: 1000,
            quic: None,
        };
        let client = Client {
            config: ClientConfig::default(),
            shared: Arc::new(Shared {
                core: Mutex::new(Core::new(1, true)),
                session: Mutex::new(SessionInfo::from(ok)),
                datagrams: DatagramCounters::default(),
                version,
            }),
            commands,
            events,
        };
        let ping = ClientFrame::new(arbiter_protocol::Ping::default());
        assert!(matches!(
            client.request(ping).await,
            Err(ClientError::InvalidInput(_))
        ));
        assert_eq!(client.shared.core().pending_len(), 0);
    }
}
