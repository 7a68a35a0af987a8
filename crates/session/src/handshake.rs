//! The first frame of a connection: decode, negotiate, authenticate
//! (PROTOCOL.md §3).

use arbiter_protocol::{
    Codec, DecodeError, ErrorCode, Rid, ServerFrame, ServerMessage, SessionId, decode_handshake,
};

use crate::auth::{Identity, Verifier};
use crate::error::{error_frame, snippet};

/// The longest `project_id`, in bytes (same rule as room ids).
pub const MAX_PROJECT_ID_LEN: usize = 128;

/// A handshake the server accepts. The runtime creates or resumes the session
/// and answers `handshake.ok` (in JSON, echoing `rid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The negotiated codec for every frame after `handshake.ok`.
    pub codec: Codec,
    /// Who the session belongs to.
    pub identity: Identity,
    /// `session_id` + `resume_token` when the client asks to resume. Whether
    /// the pair names a live session of the same project (and user) is the
    /// runtime's to check, with [`crate::tokens_match`]; a wrong pair gives a
    /// new session.
    pub resume: Option<(SessionId, String)>,
    /// The handshake's `rid` (wrapped form only), to echo on `handshake.ok`.
    pub rid: Option<Rid>,
}

/// A handshake the server refuses: send `reply`, then close the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The `error` frame (JSON, like every handshake answer), with the
    /// handshake's `rid` when it could be read.
    pub reply: ServerFrame,
    /// Its code, for metrics and logs.
    pub code: ErrorCode,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reply.msg {
            ServerMessage::Error(e) => write!(f, "handshake refused: {}: {}", e.code, e.reason),
            _ => write!(f, "handshake refused: {}", self.code),
        }
    }
}

impl std::error::Error for Rejected {}

impl Rejected {
    fn from_decode(err: &DecodeError) -> Rejected {
        Rejected {
            reply: err.to_reply(),
            code: err.code,
        }
    }
}

/// Decodes the first frame of a connection (either handshake form), negotiates
/// the codec and verifies auth at `now_unix_s`.
///
/// Refusals, in the order they are checked: anything that is not a handshake
/// (`protocol.handshake_required`), a malformed one (`protocol.bad_frame`,
/// `protocol.unsupported_version`, `protocol.too_large`), no common codec
/// (`protocol.no_common_codec`), a `project_id` that is not 1 to 128
/// characters of `[A-Za-z0-9._:-]` (`protocol.bad_frame`), then the token
/// (`auth.*`). Every refusal closes the connection.
#[allow(
    clippy::result_large_err,
    reason = "called once per connection; the frame is sent right away, boxing buys nothing"
)]
pub fn accept_handshake(
    bytes: &[u8],
    verifier: &Verifier,
    now_unix_s: u64,
) -> Result<Accepted, Rejected> {
    let handshake = decode_handshake(bytes).map_err(|e| Rejected::from_decode(&e))?;
    let codec = handshake
        .negotiate()
        .map_err(|e| Rejected::from_decode(&e))?;
    if !valid_project_id(&handshake.project_id) {
        return Err(Rejected {
            reply: error_frame(
                ErrorCode::BadFrame,
                format!(
                    "project_id {:?} must be 1 to {MAX_PROJECT_ID_LEN} characters of [A-Za-z0-9._:-]",
                    snippet(&handshake.project_id)
                ),
                handshake.rid.clone(),
            ),
            code: ErrorCode::BadFrame,
        });
    }
    let identity = verifier
        .verify(
            handshake.token.as_deref(),
            &handshake.project_id,
            now_unix_s,
        )
        .map_err(|e| Rejected {
            reply: e.to_reply(handshake.rid.clone()),
            code: e.code,
        })?;
    let resume = handshake
        .resume()
        .map(|(id, token)| (id.clone(), token.to_owned()));
    Ok(Accepted {
        codec,
        identity,
        resume,
        rid: handshake.rid,
    })
}

/// Project ids key rooms, queues, sessions and logs, so they follow the id
/// alphabet of the protocol.
fn valid_project_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PROJECT_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthConfig;

    fn disabled() -> Verifier {
        Verifier::new(&AuthConfig::Disabled).expect("verifier")
    }

    fn rejected(bytes: &[u8]) -> Rejected {
        accept_handshake(bytes, &disabled(), 0).expect_err("should be refused")
    }

    #[test]
    fn accepts_the_wrapped_form_with_rid() {
        let a = accept_handshake(
            br#"{"v":1,"t":"handshake","rid":"h1","p":{"v":1,"codecs":["json"],"project_id":"demo"}}"#,
            &disabled(),
            0,
        )
        .expect("accepted");
        assert_eq!(a.codec, Codec::Json);
        assert_eq!(a.rid, Some(Rid::from("h1")));
        assert_eq!(a.identity.project_id, "demo");
        assert_eq!(a.resume, None);
    }

    #[test]
    fn project_ids_follow_the_id_alphabet() {
        assert!(valid_project_id("demo"));
        assert!(valid_project_id("org:game-1.prod_eu"));
        assert!(!valid_project_id(""));
        assert!(!valid_project_id("has space"));
        assert!(!valid_project_id(&"a".repeat(MAX_PROJECT_ID_LEN + 1)));
        let r = rejected(
            br#"{"v":1,"t":"handshake","rid":3,"p":{"v":1,"codecs":["json"],"project_id":""}}"#,
        );
        assert_eq!(r.code, ErrorCode::BadFrame);
        assert_eq!(r.reply.rid, Some(Rid::Int(3)));
        assert!(
            matches!(r.reply.msg, ServerMessage::Error(ref e) if e.code == ErrorCode::BadFrame)
        );
    }

    #[test]
    fn non_handshakes_are_refused() {
        assert_eq!(rejected(b"").code, ErrorCode::HandshakeRequired);
        assert_eq!(
            rejected(b"\x81\xa1v\x01").code,
            ErrorCode::HandshakeRequired
        );
        assert_eq!(
            rejected(br#"{"v":1,"t":"ping","rid":"x","p":{}}"#).code,
            ErrorCode::HandshakeRequired
        );
    }
}
