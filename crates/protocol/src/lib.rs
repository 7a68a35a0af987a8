//! Arbiter's wire protocol, version 1: what travels between a client and a
//! server, and how to turn bytes into typed messages and back.
//!
//! This crate is sans-IO: it never touches a socket or a clock. The gateway
//! hands it the bytes of one frame (one WebSocket message, one length-prefixed
//! QUIC frame, one datagram) and gets a typed frame or a [`DecodeError`] that
//! already knows which wire code to answer with. The client SDK, the tests and
//! the load generator use the same types in the other direction.
//!
//! # A connection, step by step
//!
//! 1. The first frame is always JSON: [`decode_handshake`] (or
//!    [`decode_opening`] on a QUIC connection, which may instead carry
//!    `session.attach`). Both accepted forms of the handshake decode to the same
//!    [`Handshake`].
//! 2. [`Handshake::negotiate`] picks the [`Codec`]: the first of the client's
//!    `codecs` that is supported, else `protocol.no_common_codec`.
//! 3. The server answers `handshake.ok` ([`HandshakeOk`]), in JSON.
//! 4. From then on frames use the negotiated codec: a server decodes with
//!    [`Codec::decode_client`] into a [`ClientFrame`] and encodes
//!    [`ServerFrame`]s with [`Codec::encode_server`] into a reusable buffer.
//!
//! # Which type for what
//!
//! - [`ClientMessage`] / [`ServerMessage`]: one variant per message type, named
//!   like its [`MessageType`]; each carries a payload struct that mirrors the
//!   wire payload (`room.join_or_create` → [`JoinOrCreate`]).
//! - [`ClientFrame`] / [`ServerFrame`]: the message plus the envelope's `rid`
//!   and `room`. [`ClientFrame::target_room`] is the room a frame is about,
//!   wherever it was on the wire.
//! - [`ErrorCode`]: the wire codes; [`ErrorCode::closes_connection`] says which
//!   end the connection.
//! - [`Limits`]: the bounds that turn hostile input into errors. The default is
//!   for frames clients send; [`Limits::for_server_frames`] for the other way.
//! - Ids are validated newtypes: [`RoomId`], [`SessionId`], [`TicketId`];
//!   [`Seq`] and [`Checksum`] for state sync; [`Rid`] is echoed as given.
//!
//! # Decisions where the protocol page is silent
//!
//! `docs/protocol.md` lists them for client authors. The ones that shape this
//! API: unknown keys are ignored (forward compatibility) but duplicate envelope
//! keys are errors; a payload is always an object, never a positional array;
//! a room-scoped type may name its room in the envelope or in `p.room`, and the
//! decoder normalises it (payload types that have a `room` field get it there,
//! the others in the frame's `room`); checksums are a `u64` shown as 16
//! lowercase hex digits.
//!
//! # Example
//!
//! ```
//! use arbiter_protocol::{
//!     ClientMessage, Codec, ErrorCode, Limits, RoomId, Seq, ServerFrame, StatePatch,
//!     decode_handshake,
//! };
//! use arbiter_state::PatchOp;
//!
//! // The first frame: a handshake, always JSON.
//! let hello = br#"{"v":1,"t":"handshake","p":{"v":1,"codecs":["msgpack","json"],"project_id":"demo"}}"#;
//! let handshake = decode_handshake(hello)?;
//! let codec = handshake.negotiate()?;
//! assert_eq!(codec, Codec::MsgPack);
//!
//! // A client frame in the negotiated codec (here built with the client side of the API).
//! let room = RoomId::new("arena-1")?;
//! let mut buf = Vec::new();
//! let join = arbiter_protocol::ClientFrame::new(arbiter_protocol::JoinOrCreate {
//!     room_type: "arena".into(),
//!     room: Some(room.clone()),
//!     options: None,
//! })
//! .with_rid("c-1");
//! codec.encode_client(&join, &mut buf)?;
//! let frame = codec.decode_client(&buf, &Limits::default())?;
//! assert!(matches!(frame.msg, ClientMessage::RoomJoinOrCreate(_)));
//! assert_eq!(frame.target_room(), Some(&room));
//!
//! // A server frame into a reusable buffer.
//! let patch = ServerFrame::new(StatePatch {
//!     seq: Seq(42),
//!     ops: vec![PatchOp::Set { path: "/players/s_ab/x".into(), value: 3.5.into() }],
//!     checksum: None,
//! })
//! .in_room(room);
//! buf.clear();
//! codec.encode_server(&patch, &mut buf)?;
//! assert_eq!(codec.decode_server(&buf, &Limits::for_server_frames())?, patch);
//!
//! // Hostile input is an error with the code to answer, never a panic.
//! let err = codec.decode_client(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Limits::default()).unwrap_err();
//! assert_eq!(err.code, ErrorCode::BadFrame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[macro_use]
mod macros;

mod client;
mod codec;
mod envelope;
mod error;
mod error_code;
mod handshake;
mod ids;
mod limits;
mod message_type;
mod rpc;
mod serde_util;
mod server;
mod shared;

pub use client::{
    ClientFrame, ClientMessage, Dequeue, Enqueue, JoinOrCreate, LeaveRoom, ListRooms, Ping,
    PresenceSet, RoomBytes, RoomMessage, SessionAttach, StateAck, StateResync,
};
pub use codec::{Codec, UnknownCodec, negotiate};
pub use envelope::PROTOCOL_VERSION;
pub use error::{DecodeError, EncodeError, snippet};
pub use error_code::{ErrorCode, UnknownErrorCode};
pub use handshake::{Handshake, Opening, decode_handshake, decode_opening};
pub use ids::{Checksum, InvalidId, MAX_ID_LEN, Rid, RoomId, Seq, SessionId, TicketId};
pub use limits::Limits;
pub use message_type::{Direction, MessageType, UnknownMessageType};
pub use rpc::{Joined, RoomInfo, RpcOk, RpcResponse};
pub use server::{
    ErrorPayload, HandshakeOk, MatchFound, MatchTimeout, Pong, PresenceDiff, PresenceMember,
    PresenceState, QuicInfo, RoomClosed, ServerFrame, ServerMessage, ServerRoomBytes,
    ServerRoomMessage, SessionAttachOk, StatePatch, StateSnapshot,
};
pub use shared::SharedFrame;
