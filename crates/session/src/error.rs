//! The crate's errors: [`SessionError`] for a server configuration that cannot
//! work, [`AuthError`] for a handshake token that is refused.

use arbiter_protocol::{ErrorCode, ErrorPayload, Rid, ServerFrame};

/// The session layer cannot be set up with this configuration. Raised once, at
/// server start, so that a bad key is a startup failure rather than every
/// handshake failing later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// `auth = jwt` without any verification key.
    #[error(
        "auth mode `jwt` needs a key: set an HS256 secret (--jwt-secret / ARBITER_JWT_SECRET) or an EdDSA public key"
    )]
    NoJwtKey,
    /// The HS256 secret is empty, which would accept tokens signed with an empty key.
    #[error("the HS256 secret is empty; use at least 32 random bytes")]
    EmptySecret,
    /// The EdDSA public key is not an Ed25519 `PUBLIC KEY` PEM.
    #[error("the EdDSA public key is not usable: {0}")]
    BadEddsaKey(String),
}

/// A handshake token was refused (PROTOCOL.md §3). The connection is closed
/// after the `error` frame built from it.
///
/// `reason` says what to fix and never contains the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct AuthError {
    /// `auth.invalid_token`, `auth.expired` or `auth.project_mismatch`.
    pub code: ErrorCode,
    /// A sentence a developer can act on.
    pub reason: String,
}

impl AuthError {
    /// An `auth.invalid_token` error.
    pub(crate) fn invalid(reason: impl Into<String>) -> AuthError {
        AuthError {
            code: ErrorCode::AuthInvalidToken,
            reason: reason.into(),
        }
    }

    /// The `error` frame to send before closing, answering `rid`.
    pub fn to_reply(&self, rid: Option<Rid>) -> ServerFrame {
        error_frame(self.code, self.reason.clone(), rid)
    }
}

/// An `error { code, reason }` frame answering `rid`.
pub(crate) fn error_frame(code: ErrorCode, reason: String, rid: Option<Rid>) -> ServerFrame {
    ServerFrame::new(ErrorPayload { code, reason }).with_rid(rid)
}

pub(crate) use arbiter_protocol::snippet;

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::ServerMessage;

    #[test]
    fn auth_errors_become_error_frames_with_the_rid() {
        let err = AuthError::invalid("no token");
        let reply = err.to_reply(Some(Rid::Int(7)));
        assert_eq!(reply.rid, Some(Rid::Int(7)));
        match reply.msg {
            ServerMessage::Error(p) => {
                assert_eq!(p.code, ErrorCode::AuthInvalidToken);
                assert_eq!(p.reason, "no token");
            }
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    #[test]
    fn snippets_are_bounded() {
        assert_eq!(snippet("demo"), "demo");
        let long = "ü".repeat(100);
        let cut = snippet(&long);
        assert!(cut.len() <= 64 + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
