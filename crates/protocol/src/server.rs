//! Messages a server sends ([`ServerMessage`]) and the frame that carries them
//! ([`ServerFrame`]).

use std::collections::BTreeMap;

use arbiter_state::PatchOp;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Number, Value};

use crate::codec::Codec;
use crate::envelope::{Header, PROTOCOL_VERSION};
use crate::error::DecodeError;
use crate::error_code::ErrorCode;
use crate::ids::{Checksum, Rid, RoomId, Seq, SessionId, TicketId};
use crate::message_type::MessageType;
use crate::rpc::RpcResponse;
use crate::serde_util::{base64_bytes, map_of_objects, opt_object, patch_ops};

/// `handshake.ok`: the session is open. Always sent as JSON; later frames use
/// `codec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeOk {
    /// The negotiated codec.
    pub codec: Codec,
    /// The session's id.
    pub session_id: SessionId,
    /// The secret that resumes (or attaches to) this session.
    pub resume_token: String,
    /// Whether an existing session was resumed.
    pub resumed: bool,
    /// The client sends `ping` at least this often.
    pub heartbeat_ms: u32,
    /// Where to attach a QUIC connection, when the server offers QUIC.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_object"
    )]
    pub quic: Option<QuicInfo>,
}

/// The QUIC endpoint of a server, in `handshake.ok`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuicInfo {
    /// UDP port of the QUIC endpoint (same host).
    pub port: u16,
    /// SHA-256 of the server certificate (hex), for clients that pin it.
    pub cert_sha256: String,
}

/// `error` `{ code, reason }`: a frame failed before it could be routed, or a
/// non-request frame failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// The wire code.
    pub code: ErrorCode,
    /// A sentence a developer can act on.
    pub reason: String,
}

/// `pong` `{ ts?, server_ts }`: the answer to `ping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// The ping's `ts`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Number>,
    /// The server's clock, milliseconds since the Unix epoch.
    pub server_ts: u64,
}

envelope_room_payload! {
    /// `room.message` `{ type, data, from? }` from the server: a message the
    /// room's plugin sent. The room is the envelope's `room`.
    pub struct ServerRoomMessage via ServerRoomMessageWire {
        /// The game-specific type.
        #[serde(rename = "type")]
        pub kind: String,
        /// Any JSON value.
        #[serde(default)]
        pub data: Value,
        /// The session whose message this relays, when a client originated it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub from: Option<SessionId>,
    }
}

envelope_room_payload! {
    /// `room.message.bytes` `{ type, data_b64, from? }` from the server.
    pub struct ServerRoomBytes via ServerRoomBytesWire {
        /// The game-specific type.
        #[serde(rename = "type")]
        pub kind: String,
        /// The decoded bytes (`data_b64` on the wire).
        #[serde(rename = "data_b64", with = "base64_bytes")]
        pub data: Vec<u8>,
        /// The session whose message this relays, when a client originated it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub from: Option<SessionId>,
    }
}

room_payload! {
    /// `room.closed` `{ room, reason }`: the room ended.
    pub struct RoomClosed via RoomClosedWire {
        /// The room.
        pub room: RoomId,
        /// Why (plugin closed it, crashed beyond its error budget, server drain).
        pub reason: String,
    }
}

/// One member in `presence.state` / `presence.diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceMember {
    /// The authenticated user (the JWT `sub`; the session id when auth is disabled).
    pub user_id: String,
    /// The member's last `presence.set` state (`null` before any).
    #[serde(default)]
    pub state: Value,
}

room_payload! {
    /// `presence.state` `{ room, members }`: the room's full presence, sent on
    /// join and on resume.
    pub struct PresenceState via PresenceStateWire {
        /// The room.
        pub room: RoomId,
        /// Every member, by session id.
        #[serde(default, deserialize_with = "map_of_objects")]
        pub members: BTreeMap<SessionId, PresenceMember>,
    }
}

room_payload! {
    /// `presence.diff` `{ room, joins, leaves }`: presence changes. A member
    /// whose state changed appears in `joins` with its new entry; `leaves` holds
    /// the last entry of each member that left.
    pub struct PresenceDiff via PresenceDiffWire {
        /// The room.
        pub room: RoomId,
        /// New members and changed entries.
        #[serde(default, deserialize_with = "map_of_objects")]
        pub joins: BTreeMap<SessionId, PresenceMember>,
        /// Members that left.
        #[serde(default, deserialize_with = "map_of_objects")]
        pub leaves: BTreeMap<SessionId, PresenceMember>,
    }
}

envelope_room_payload! {
    /// `state.snapshot` `{ state, seq, checksum }`: the room's whole state.
    pub struct StateSnapshot via StateSnapshotWire {
        /// The state document (its root is an object).
        pub state: Value,
        /// The room's sequence number at this state.
        pub seq: Seq,
        /// The checksum of `state`.
        pub checksum: Checksum,
    }
}

envelope_room_payload! {
    /// `state.patch` `{ seq, ops, checksum? }`: one tick of changes, applied in
    /// order.
    pub struct StatePatch via StatePatchWire {
        /// Previous `seq` + 1.
        pub seq: Seq,
        /// The changes.
        #[serde(deserialize_with = "patch_ops")]
        pub ops: Vec<PatchOp>,
        /// The checksum of the state after the patch (at least every
        /// `checksum_every` patches).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub checksum: Option<Checksum>,
    }
}

room_payload! {
    /// `match.found` `{ room, room_type, size, participants, ticket }`: a seat is
    /// reserved in `room`; take it with `room.join_or_create { room_type, room }`.
    pub struct MatchFound via MatchFoundWire {
        /// The room created for the match.
        pub room: RoomId,
        /// Its type.
        pub room_type: String,
        /// The match size.
        pub size: u32,
        /// Every matched session.
        pub participants: Vec<SessionId>,
        /// The receiving session's own ticket.
        pub ticket: TicketId,
    }
}

/// `match.timeout` `{ room_type, ticket }`: a ticket expired (`ticket_ttl`)
/// without a match and left the queue. Not in PROTOCOL.md's tables; added so a
/// client stops waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchTimeout {
    /// The queue the ticket was in.
    pub room_type: String,
    /// The expired ticket.
    pub ticket: TicketId,
}

/// `session.attach.ok` `{}`: the QUIC connection is now the session's
/// unreliable path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionAttachOk {}

message_enum! {
    /// A message a server sends. Variants are named like their [`MessageType`].
    #[derive(Debug, Clone, PartialEq)]
    pub enum ServerMessage {
        /// `handshake.ok`.
        HandshakeOk(HandshakeOk),
        /// `error`.
        Error(ErrorPayload),
        /// `rpc.response`.
        RpcResponse(RpcResponse),
        /// `pong`.
        Pong(Pong),
        /// `room.message`.
        RoomMessage(ServerRoomMessage),
        /// `room.message.bytes`.
        RoomMessageBytes(ServerRoomBytes),
        /// `room.closed`.
        RoomClosed(RoomClosed),
        /// `presence.state`.
        PresenceState(PresenceState),
        /// `presence.diff`.
        PresenceDiff(PresenceDiff),
        /// `state.snapshot`.
        StateSnapshot(StateSnapshot),
        /// `state.patch`.
        StatePatch(StatePatch),
        /// `match.found`.
        MatchFound(MatchFound),
        /// `match.timeout`.
        MatchTimeout(MatchTimeout),
        /// `session.attach.ok`.
        SessionAttachOk(SessionAttachOk),
    }
}

impl ServerMessage {
    /// The room named inside the payload (`p.room`), for the types that have one.
    pub fn payload_room(&self) -> Option<&RoomId> {
        match self {
            ServerMessage::RoomClosed(p) => Some(&p.room),
            ServerMessage::PresenceState(p) => Some(&p.room),
            ServerMessage::PresenceDiff(p) => Some(&p.room),
            ServerMessage::MatchFound(p) => Some(&p.room),
            _ => None,
        }
    }

    /// Whether this type's room travels in the envelope (`room.message(.bytes)`,
    /// `state.snapshot`, `state.patch`), so that a [`ServerFrame`] of it needs
    /// `room`.
    pub const fn room_in_envelope(&self) -> bool {
        matches!(
            self,
            ServerMessage::RoomMessage(_)
                | ServerMessage::RoomMessageBytes(_)
                | ServerMessage::StateSnapshot(_)
                | ServerMessage::StatePatch(_)
        )
    }
}

/// A frame from a server: the envelope's `rid` and `room`, and the message.
///
/// Same rules as [`crate::ClientFrame`]: `room` is the envelope's room, required
/// by the types of [`ServerMessage::room_in_envelope`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFrame {
    /// The rid of the client frame this answers.
    pub rid: Option<Rid>,
    /// The envelope's room.
    pub room: Option<RoomId>,
    /// The message.
    pub msg: ServerMessage,
}

impl ServerFrame {
    /// A frame with no rid and no envelope room.
    pub fn new(msg: impl Into<ServerMessage>) -> ServerFrame {
        ServerFrame {
            rid: None,
            room: None,
            msg: msg.into(),
        }
    }

    /// Sets the rid (of the frame this answers).
    pub fn with_rid(mut self, rid: Option<Rid>) -> ServerFrame {
        self.rid = rid;
        self
    }

    /// Sets the envelope's room.
    pub fn in_room(mut self, room: RoomId) -> ServerFrame {
        self.room = Some(room);
        self
    }

    /// The room this frame is about: the payload's `room` if it has one, else
    /// the envelope's.
    pub fn target_room(&self) -> Option<&RoomId> {
        self.msg.payload_room().or(self.room.as_ref())
    }
}

impl Serialize for ServerFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 3 + usize::from(self.rid.is_some()) + usize::from(self.room.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("v", &PROTOCOL_VERSION)?;
        map.serialize_entry("t", self.msg.message_type().as_str())?;
        if let Some(rid) = &self.rid {
            map.serialize_entry("rid", rid)?;
        }
        if let Some(room) = &self.room {
            map.serialize_entry("room", room)?;
        }
        self.msg.serialize_payload(&mut map)?;
        map.end()
    }
}

/// Decodes the payload of a checked envelope into a server frame.
pub(crate) fn decode(h: Header<'_>) -> Result<ServerFrame, DecodeError> {
    use MessageType as T;
    let mut room = h.room.clone();
    let mut in_envelope = |r: RoomId| room = Some(r);
    let msg = match h.ty {
        T::HandshakeOk => ServerMessage::HandshakeOk(h.payload()?),
        T::Error => ServerMessage::Error(h.payload()?),
        T::RpcResponse => ServerMessage::RpcResponse(h.payload()?),
        T::Pong => ServerMessage::Pong(h.payload()?),
        T::RoomMessage => {
            let (r, p) = h.payload::<ServerRoomMessageWire>()?.into_payload(&h)?;
            in_envelope(r);
            ServerMessage::RoomMessage(p)
        }
        T::RoomMessageBytes => {
            let (r, p) = h.payload::<ServerRoomBytesWire>()?.into_payload(&h)?;
            in_envelope(r);
            ServerMessage::RoomMessageBytes(p)
        }
        T::RoomClosed => {
            ServerMessage::RoomClosed(h.payload::<RoomClosedWire>()?.into_payload(&h)?)
        }
        T::PresenceState => {
            ServerMessage::PresenceState(h.payload::<PresenceStateWire>()?.into_payload(&h)?)
        }
        T::PresenceDiff => {
            ServerMessage::PresenceDiff(h.payload::<PresenceDiffWire>()?.into_payload(&h)?)
        }
        T::StateSnapshot => {
            let (r, p) = h.payload::<StateSnapshotWire>()?.into_payload(&h)?;
            in_envelope(r);
            ServerMessage::StateSnapshot(p)
        }
        T::StatePatch => {
            let (r, p) = h.payload::<StatePatchWire>()?.into_payload(&h)?;
            in_envelope(r);
            ServerMessage::StatePatch(p)
        }
        T::MatchFound => {
            ServerMessage::MatchFound(h.payload::<MatchFoundWire>()?.into_payload(&h)?)
        }
        T::MatchTimeout => ServerMessage::MatchTimeout(h.payload()?),
        T::SessionAttachOk => ServerMessage::SessionAttachOk(h.payload()?),
        other => {
            return Err(h.error(
                ErrorCode::UnknownType,
                format!("{other} is sent by clients; a server cannot send it"),
            ));
        }
    };
    Ok(ServerFrame {
        rid: h.rid,
        room,
        msg,
    })
}
