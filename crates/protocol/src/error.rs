//! The crate's errors: why a frame could not be decoded (with the wire code to
//! answer) and why a frame could not be encoded.

use crate::error_code::ErrorCode;
use crate::ids::Rid;
use crate::message_type::MessageType;
use crate::rpc::RpcResponse;
use crate::server::{ServerFrame, ServerMessage};

/// A frame (or handshake) the peer sent could not be accepted.
///
/// It carries everything needed to answer: the wire [`ErrorCode`], a `reason` a
/// developer can act on, the frame's `rid` when it could be read, and its type
/// when it could be read. [`DecodeError::to_reply`] builds the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct DecodeError {
    /// The wire code: `protocol.*` for malformed input, `matchmaking.invalid` for
    /// an unusable `matchmaking.enqueue`.
    pub code: ErrorCode,
    /// A sentence for the developer of the client.
    pub reason: String,
    /// The frame's request id, if it could be read.
    pub rid: Option<Rid>,
    /// The frame's message type, if it could be read and is a known type.
    pub message_type: Option<MessageType>,
}

impl DecodeError {
    /// An error with a code and a reason, no rid or type yet.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            code,
            reason: reason.into(),
            rid: None,
            message_type: None,
        }
    }

    pub(crate) fn bad_frame(reason: impl Into<String>) -> DecodeError {
        DecodeError::new(ErrorCode::BadFrame, reason)
    }

    pub(crate) fn with_rid(mut self, rid: Option<Rid>) -> DecodeError {
        if self.rid.is_none() {
            self.rid = rid;
        }
        self
    }

    pub(crate) fn with_type(mut self, ty: MessageType) -> DecodeError {
        self.message_type = Some(ty);
        self
    }

    /// The frame the server sends back for this error.
    ///
    /// A request (a type for which [`MessageType::is_request`] holds) that has a
    /// `rid` and failed on its content rather than its form (a code outside
    /// `protocol.*`, e.g. `matchmaking.invalid`) is answered with `rpc.response
    /// { ok: false, code, reason }`; everything else with `error { code, reason }`
    /// carrying the `rid` when there is one.
    pub fn to_reply(&self) -> ServerFrame {
        let is_request = self.message_type.is_some_and(MessageType::is_request);
        let msg = if is_request && self.rid.is_some() && !self.code.is_protocol() {
            ServerMessage::RpcResponse(RpcResponse::Err {
                code: self.code,
                reason: self.reason.clone(),
            })
        } else {
            ServerMessage::Error(crate::server::ErrorPayload {
                code: self.code,
                reason: self.reason.clone(),
            })
        };
        ServerFrame {
            rid: self.rid.clone(),
            room: None,
            msg,
        }
    }
}

/// A frame could not be encoded. With the types of this crate this only happens
/// when a room-scoped message has no room, or a `Value` inside it nests deeper
/// than the MessagePack encoder allows (1,024).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {message_type}: {reason}")]
pub struct EncodeError {
    /// The type of the frame being encoded.
    pub message_type: MessageType,
    /// What went wrong.
    pub reason: String,
}

/// `s` cut to at most 64 bytes (on a character boundary), for echoing
/// peer-controlled text in error reasons without echoing a megabyte. Shared
/// by every crate that writes such reasons.
pub fn snippet(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_on_a_char_boundary() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(100);
        let cut = snippet(&long);
        assert!(cut.len() <= 64 + "…".len());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn requests_failing_on_content_get_an_rpc_response() {
        let err = DecodeError::new(ErrorCode::MatchmakingInvalid, "size must be at least 1")
            .with_rid(Some(Rid::Int(3)))
            .with_type(MessageType::MatchmakingEnqueue);
        let reply = err.to_reply();
        assert_eq!(reply.rid, Some(Rid::Int(3)));
        assert!(matches!(
            reply.msg,
            ServerMessage::RpcResponse(RpcResponse::Err {
                code: ErrorCode::MatchmakingInvalid,
                ..
            })
        ));

        let malformed = DecodeError::bad_frame("missing field `room`")
            .with_rid(Some(Rid::from("c-1")))
            .with_type(MessageType::RoomLeave);
        let reply = malformed.to_reply();
        assert_eq!(reply.rid, Some(Rid::from("c-1")));
        assert!(matches!(reply.msg, ServerMessage::Error(ref e) if e.code == ErrorCode::BadFrame));
    }
}
