//! Messages a client sends after the handshake ([`ClientMessage`]) and the frame
//! that carries them ([`ClientFrame`]).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::envelope::{Header, PROTOCOL_VERSION};
use crate::error::DecodeError;
use crate::error_code::ErrorCode;
use crate::ids::{Checksum, Rid, RoomId, Seq, SessionId};
use crate::message_type::MessageType;
use crate::serde_util::base64_bytes;

/// `ping` `{ ts? }`: heartbeat. `ts` is any number (the client's clock),
/// echoed as given in the `pong`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ping {
    /// The client's timestamp, echoed in `pong.ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Number>,
}

/// `room.join_or_create` `{ room_type, room?, options? }` (request).
///
/// With `room`: join that room, or create it with that id. Without: join an open
/// room of `room_type` with a free seat, else create one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinOrCreate {
    /// The room type (a plugin name), e.g. `"arena"`.
    pub room_type: String,
    /// The room to join or create; decoding fills it from the envelope's `room`
    /// when `p.room` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomId>,
    /// Passed to the plugin's create and join hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
}

room_payload! {
    /// `room.leave` `{ room }` (request).
    pub struct LeaveRoom via LeaveRoomWire {
        /// The room to leave.
        pub room: RoomId,
    }
}

/// `room.list` `{ room_type? }` (request): the rooms of one type, or all.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListRooms {
    /// Only rooms of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_type: Option<String>,
}

envelope_room_payload! {
    /// `room.message` `{ type, data }` from a client: goes to the room's plugin
    /// as `input.type` / `input.data`. The room is the envelope's `room`.
    pub struct RoomMessage via RoomMessageWire {
        /// The game-specific action, e.g. `"move"`.
        #[serde(rename = "type")]
        pub kind: String,
        /// Any JSON value; `null` when absent.
        #[serde(default)]
        pub data: Value,
    }
}

envelope_room_payload! {
    /// `room.message.bytes` `{ type, data_b64 }` from a client: a binary payload,
    /// standard base64 with padding on the wire in both codecs.
    pub struct RoomBytes via RoomBytesWire {
        /// The game-specific action.
        #[serde(rename = "type")]
        pub kind: String,
        /// The decoded bytes (`data_b64` on the wire).
        #[serde(rename = "data_b64", with = "base64_bytes")]
        pub data: Vec<u8>,
    }
}

room_payload! {
    /// `presence.set` `{ room, state }` (request): this client's ephemeral
    /// presence in the room.
    pub struct PresenceSet via PresenceSetWire {
        /// The room.
        pub room: RoomId,
        /// Any JSON value (name, ready flag…); `null` when absent.
        #[serde(default)]
        pub state: Value,
    }
}

room_payload! {
    /// `state.ack` `{ room, seq, checksum? }`: the client has applied the room's
    /// state up to `seq`.
    pub struct StateAck via StateAckWire {
        /// The room.
        pub room: RoomId,
        /// The last applied sequence number.
        pub seq: Seq,
        /// The client's checksum at `seq`; a mismatch earns a fresh snapshot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub checksum: Option<Checksum>,
    }
}

room_payload! {
    /// `state.resync` `{ room, reason? }` (request): ask for a fresh snapshot.
    pub struct StateResync via StateResyncWire {
        /// The room.
        pub room: RoomId,
        /// Why, for logs (`"gap"`, `"checksum"`…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }
}

/// `matchmaking.enqueue` `{ room_type, size, properties?, party? }` (request).
///
/// Any decoding failure of this payload is `matchmaking.invalid` (PROTOCOL.md
/// §7), not `protocol.bad_frame`; so is a `size` of 0 or an empty `room_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enqueue {
    /// The room type to match for.
    pub room_type: String,
    /// How many players the match needs, at least 1 (the upper bound is the room
    /// type's `max_clients`, checked by the matchmaker).
    pub size: u32,
    /// Matching properties (e.g. `{ "region": "eu" }`), interpreted by the
    /// matchmaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
    /// A party id: tickets with the same party id are placed in the same match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
}

/// `matchmaking.dequeue` `{ room_type? }` (request): leave the queue of one
/// room type, or every queue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dequeue {
    /// Only this room type's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_type: Option<String>,
}

/// `session.attach` `{ session_id, resume_token }`: makes a QUIC connection the
/// unreliable path of an existing session. Any decoding failure of this payload
/// is `auth.invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAttach {
    /// The session to attach to.
    pub session_id: SessionId,
    /// Its resume token, from `handshake.ok`.
    pub resume_token: String,
}

message_enum! {
    /// A message a client sends after the handshake. Variants are named like
    /// their [`MessageType`].
    #[derive(Debug, Clone, PartialEq)]
    pub enum ClientMessage {
        /// `ping`.
        Ping(Ping),
        /// `room.join_or_create` (request).
        RoomJoinOrCreate(JoinOrCreate),
        /// `room.leave` (request).
        RoomLeave(LeaveRoom),
        /// `room.list` (request).
        RoomList(ListRooms),
        /// `room.message`.
        RoomMessage(RoomMessage),
        /// `room.message.bytes`.
        RoomMessageBytes(RoomBytes),
        /// `presence.set` (request).
        PresenceSet(PresenceSet),
        /// `state.ack`.
        StateAck(StateAck),
        /// `state.resync` (request).
        StateResync(StateResync),
        /// `matchmaking.enqueue` (request).
        MatchmakingEnqueue(Enqueue),
        /// `matchmaking.dequeue` (request).
        MatchmakingDequeue(Dequeue),
        /// `session.attach`.
        SessionAttach(SessionAttach),
    }
}

impl ClientMessage {
    /// The room named inside the payload (`p.room`), for the types that have one.
    pub fn payload_room(&self) -> Option<&RoomId> {
        match self {
            ClientMessage::RoomJoinOrCreate(p) => p.room.as_ref(),
            ClientMessage::RoomLeave(p) => Some(&p.room),
            ClientMessage::PresenceSet(p) => Some(&p.room),
            ClientMessage::StateAck(p) => Some(&p.room),
            ClientMessage::StateResync(p) => Some(&p.room),
            _ => None,
        }
    }

    /// Whether this type's room travels in the envelope (`room.message`,
    /// `room.message.bytes`), so that a [`ClientFrame`] of it needs `room`.
    pub const fn room_in_envelope(&self) -> bool {
        matches!(
            self,
            ClientMessage::RoomMessage(_) | ClientMessage::RoomMessageBytes(_)
        )
    }
}

/// A frame from a client: the envelope's `rid` and `room`, and the message.
///
/// `room` is the envelope's `room`. For `room.message(.bytes)` it is the room
/// the message goes to and is always set after decoding (from the envelope or
/// `p.room`); for types with a `room` in their payload, decoding puts the room in
/// the payload and leaves this as it was on the wire. [`ClientFrame::target_room`]
/// gives the room either way.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// The request id, echoed on the answer.
    pub rid: Option<Rid>,
    /// The envelope's room.
    pub room: Option<RoomId>,
    /// The message.
    pub msg: ClientMessage,
}

impl ClientFrame {
    /// A frame with no rid and no envelope room.
    pub fn new(msg: impl Into<ClientMessage>) -> ClientFrame {
        ClientFrame {
            rid: None,
            room: None,
            msg: msg.into(),
        }
    }

    /// Sets the request id.
    pub fn with_rid(mut self, rid: impl Into<Rid>) -> ClientFrame {
        self.rid = Some(rid.into());
        self
    }

    /// Sets the envelope's room.
    pub fn in_room(mut self, room: RoomId) -> ClientFrame {
        self.room = Some(room);
        self
    }

    /// The room this frame is about: the payload's `room` if it has one, else
    /// the envelope's.
    pub fn target_room(&self) -> Option<&RoomId> {
        self.msg.payload_room().or(self.room.as_ref())
    }
}

impl Serialize for ClientFrame {
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

/// Decodes the payload of a checked envelope into a client frame.
pub(crate) fn decode(h: Header<'_>) -> Result<ClientFrame, DecodeError> {
    use MessageType as T;
    let mut room = h.room.clone();
    let msg = match h.ty {
        T::Ping => ClientMessage::Ping(h.payload()?),
        T::RoomJoinOrCreate => {
            let mut p: JoinOrCreate = h.payload()?;
            p.room = h.optional_room(p.room.take())?;
            ClientMessage::RoomJoinOrCreate(p)
        }
        T::RoomLeave => ClientMessage::RoomLeave(h.payload::<LeaveRoomWire>()?.into_payload(&h)?),
        T::RoomList => ClientMessage::RoomList(h.payload()?),
        T::RoomMessage => {
            let (r, p) = h.payload::<RoomMessageWire>()?.into_payload(&h)?;
            room = Some(r);
            ClientMessage::RoomMessage(p)
        }
        T::RoomMessageBytes => {
            let (r, p) = h.payload::<RoomBytesWire>()?.into_payload(&h)?;
            room = Some(r);
            ClientMessage::RoomMessageBytes(p)
        }
        T::PresenceSet => {
            ClientMessage::PresenceSet(h.payload::<PresenceSetWire>()?.into_payload(&h)?)
        }
        T::StateAck => ClientMessage::StateAck(h.payload::<StateAckWire>()?.into_payload(&h)?),
        T::StateResync => {
            ClientMessage::StateResync(h.payload::<StateResyncWire>()?.into_payload(&h)?)
        }
        T::MatchmakingEnqueue => ClientMessage::MatchmakingEnqueue(decode_enqueue(&h)?),
        T::MatchmakingDequeue => ClientMessage::MatchmakingDequeue(h.payload()?),
        T::SessionAttach => {
            ClientMessage::SessionAttach(h.payload_or(ErrorCode::AuthInvalidToken)?)
        }
        T::Handshake => {
            return Err(h.error(
                ErrorCode::BadFrame,
                "handshake is only accepted as the first frame of a connection",
            ));
        }
        other => {
            return Err(h.error(
                ErrorCode::UnknownType,
                format!("{other} is sent by servers; a client cannot send it"),
            ));
        }
    };
    Ok(ClientFrame {
        rid: h.rid,
        room,
        msg,
    })
}

fn decode_enqueue(h: &Header<'_>) -> Result<Enqueue, DecodeError> {
    let p: Enqueue = h.payload_or(ErrorCode::MatchmakingInvalid)?;
    if p.size == 0 {
        return Err(h.error(
            ErrorCode::MatchmakingInvalid,
            "matchmaking.enqueue: size must be at least 1",
        ));
    }
    if p.room_type.is_empty() {
        return Err(h.error(
            ErrorCode::MatchmakingInvalid,
            "matchmaking.enqueue: room_type must not be empty",
        ));
    }
    Ok(p)
}
