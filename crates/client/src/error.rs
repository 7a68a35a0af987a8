//! The crate's errors: [`ClientError`] for everything the async client returns,
//! [`ReplicaError`] for the sans-IO replica (why a snapshot or patch was refused).

use arbiter_protocol::{Checksum, EncodeError, ErrorCode, InvalidId, Seq};
use arbiter_state::{ApplyError, NotAnObject};

/// Why a [`crate::Client`] call failed.
///
/// [`ClientError::code`] gives the wire [`ErrorCode`] when the server refused
/// something, so tests can match on codes rather than strings.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered the request with `rpc.response { ok: false }`.
    #[error("request refused: {code}: {reason}")]
    Rpc {
        /// The wire code (`room.full`, `room.not_member`…).
        code: ErrorCode,
        /// The server's explanation.
        reason: String,
    },
    /// The server answered the handshake with an `error` frame (bad token,
    /// draining server, no common codec…).
    #[error("handshake rejected: {code}: {reason}")]
    Rejected {
        /// The wire code (`auth.invalid_token`, `server.draining`…).
        code: ErrorCode,
        /// The server's explanation.
        reason: String,
    },
    /// The TCP connection or the WebSocket layer failed.
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
    /// The server broke the protocol (an unexpected or undecodable reply).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A frame could not be encoded (a value nested too deeply for MessagePack).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// An argument is not valid (a malformed room id, options that are not a
    /// JSON object, a URL that is not `ws://host:port/…`).
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// The client is closed: [`crate::Client::close`] was called, or the
    /// connection was lost and could not be resumed.
    #[error("the client is closed")]
    Closed,
    /// The connection dropped after the request was sent and before its answer
    /// arrived; whether the server acted on it is unknown.
    #[error("the connection was lost before the answer arrived")]
    ConnectionLost,
    /// No answer (or no expected state) within the allowed time.
    #[error("timed out")]
    Timeout,
}

impl ClientError {
    /// The wire code of a refused request or handshake, `None` otherwise.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rpc { code, .. } | ClientError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<InvalidId> for ClientError {
    fn from(e: InvalidId) -> Self {
        ClientError::InvalidInput(e.to_string())
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as WsError;
        match e {
            WsError::Io(io) => ClientError::Io(io),
            WsError::ConnectionClosed | WsError::AlreadyClosed => ClientError::Closed,
            other => ClientError::Io(std::io::Error::other(other)),
        }
    }
}

/// Why a [`crate::Replica`] refused a snapshot or a patch. The replica is left
/// exactly as it was; the cure is a fresh snapshot (`state.resync`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicaError {
    /// The patch is not the next one: some patches are missing.
    #[error("patch gap: expected seq {expected}, got {got}")]
    Gap {
        /// The seq the replica can apply next.
        expected: Seq,
        /// The seq of the refused patch.
        got: Seq,
    },
    /// An op of the patch could not be applied to the replica's state.
    #[error("patch {seq} does not apply: {source}")]
    Apply {
        /// The seq of the refused patch.
        seq: Seq,
        /// Which op failed and why.
        source: ApplyError,
    },
    /// The state after the patch (or the snapshot's state) does not hash to the
    /// checksum the server sent.
    #[error("checksum mismatch at seq {seq}: server {expected}, replica {actual}")]
    ChecksumMismatch {
        /// The seq of the refused patch or snapshot.
        seq: Seq,
        /// The server's checksum.
        expected: Checksum,
        /// The checksum the replica computed.
        actual: Checksum,
    },
    /// A snapshot's state is not a JSON object.
    #[error("snapshot at seq {seq}: {source}")]
    NotAnObject {
        /// The seq of the refused snapshot.
        seq: Seq,
        /// The type found instead.
        source: NotAnObject,
    },
}

impl ReplicaError {
    /// A short tag for logs and for `state.resync`'s `reason`: `"gap"`,
    /// `"apply"`, `"checksum"` or `"not_object"`.
    pub const fn tag(&self) -> &'static str {
        match self {
            ReplicaError::Gap { .. } => "gap",
            ReplicaError::Apply { .. } => "apply",
            ReplicaError::ChecksumMismatch { .. } => "checksum",
            ReplicaError::NotAnObject { .. } => "not_object",
        }
    }
}
