//! The matchmaker's one error type.

use arbiter_protocol::{ErrorCode, SessionId};

/// Why an enqueue was refused. [`MatchmakerError::code`] is the wire code to
/// answer with; the `Display` text is the `reason` sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchmakerError {
    /// A missing or invalid field (`matchmaking.invalid`); the text says which
    /// and why.
    #[error("{0}")]
    Invalid(String),
    /// The session already has a ticket for this room type
    /// (`matchmaking.already_queued`).
    #[error("session {session} is already queued for room type {room_type:?}; dequeue first")]
    AlreadyQueued {
        /// The session.
        session: SessionId,
        /// The room type it is queued for.
        room_type: String,
    },
    /// The backend could not store the ticket (e.g. a remote store is down).
    #[error("the matchmaking store is unavailable: {0}")]
    Unavailable(String),
}

impl MatchmakerError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            MatchmakerError::Invalid(_) => ErrorCode::MatchmakingInvalid,
            MatchmakerError::AlreadyQueued { .. } => ErrorCode::MatchmakingAlreadyQueued,
            MatchmakerError::Unavailable(_) => ErrorCode::ServerOverloaded,
        }
    }

    /// The `reason` sentence for the wire (the same as `to_string()`).
    pub fn reason(&self) -> String {
        self.to_string()
    }
}
