//! [`Event`]: everything the server sends that is not the answer to a request,
//! and what happens to the connection, in the order it happened.

use arbiter_protocol::{
    ErrorCode, MatchFound, MatchTimeout, PresenceDiff, PresenceState, Rid, RoomId, Seq, SessionId,
};
use serde_json::Value;

/// Something that happened on the client's session, read with
/// [`crate::Client::next_event`].
///
/// State changes are already applied to the replica when their event is read
/// ([`crate::Client::state`]); the events say *that* something changed, for
/// code that reacts to it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `room.message` from the room's plugin.
    Message {
        /// The room.
        room: RoomId,
        /// The message type (`"error"`, `"chat"`…).
        kind: String,
        /// Its data.
        data: Value,
        /// The session that originated it, when a client did.
        from: Option<SessionId>,
    },
    /// `room.message.bytes` from the room's plugin.
    Bytes {
        /// The room.
        room: RoomId,
        /// The message type.
        kind: String,
        /// The decoded bytes.
        data: Vec<u8>,
        /// The session that originated it, when a client did.
        from: Option<SessionId>,
    },
    /// A `state.snapshot` replaced the room's replica (after a join, a resync,
    /// or a resume beyond the room's patch history).
    Snapshot {
        /// The room.
        room: RoomId,
        /// The snapshot's seq.
        seq: Seq,
    },
    /// A `state.patch` was applied to the room's replica (duplicates are not
    /// reported).
    Patch {
        /// The room.
        room: RoomId,
        /// The patch's seq.
        seq: Seq,
    },
    /// The client found its replica out of step (a gap, a patch that does not
    /// apply, a checksum mismatch) and sent `state.resync`; a
    /// [`Event::Snapshot`] follows.
    ResyncRequested {
        /// The room.
        room: RoomId,
        /// What went wrong, as a sentence.
        reason: String,
    },
    /// Several resyncs in a row failed to give a usable snapshot; the client
    /// stopped asking. [`crate::Client::resync`] asks again.
    ReplicaFailed {
        /// The room.
        room: RoomId,
        /// The last failure.
        reason: String,
    },
    /// `presence.state`: the room's full presence (on join and on resume).
    PresenceState(PresenceState),
    /// `presence.diff`: members that joined, changed or left.
    PresenceDiff(PresenceDiff),
    /// `room.closed`: the room ended and its replica is gone.
    RoomClosed {
        /// The room.
        room: RoomId,
        /// Why it ended.
        reason: String,
    },
    /// `match.found`: a seat is reserved; take it with
    /// [`crate::Client::join_or_create`] with the room type and room.
    MatchFound(MatchFound),
    /// `match.timeout`: a matchmaking ticket expired without a match.
    MatchTimeout(MatchTimeout),
    /// An `error` frame: something the client sent failed outside a request.
    Error {
        /// The wire code.
        code: ErrorCode,
        /// The server's explanation.
        reason: String,
        /// The rid of the frame that failed, when the server could read it.
        rid: Option<Rid>,
    },
    /// A frame from the server could not be decoded, or came in the wrong
    /// WebSocket message kind for the negotiated codec; it was dropped.
    InvalidFrame {
        /// Why it was dropped.
        reason: String,
    },
    /// The transport dropped. With `auto_resume` the client is now
    /// reconnecting; [`Event::Resumed`] or [`Event::SessionLost`] follows, or a
    /// second `Disconnected` (reason `resume failed: …`) and the end of the
    /// event stream.
    Disconnected {
        /// What ended the transport.
        reason: String,
    },
    /// The client reconnected and the server resumed the session: same rooms,
    /// same tickets; missed patches (or snapshots) follow.
    Resumed,
    /// The client reconnected but the server started a new session (the old one
    /// expired or the token was refused): rooms and replicas are gone.
    SessionLost {
        /// The new session's id.
        session_id: SessionId,
    },
}
