//! The first frame of a connection: a JSON handshake (or, on a QUIC connection
//! that attaches to an existing session, `session.attach`).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::client::SessionAttach;
use crate::codec::{Codec, check_size, json, negotiate};
use crate::envelope::{PROTOCOL_VERSION, RawPayload, Scalar, check_version, read_rid};
use crate::error::{DecodeError, EncodeError, snippet};
use crate::error_code::ErrorCode;
use crate::ids::{Rid, SessionId};
use crate::limits::Limits;
use crate::message_type::MessageType;

/// A client's handshake, in either accepted form:
/// `{"v":1,"t":"handshake","p":{…}}` or the bare payload `{"v":1,"codecs":[…],…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The wrapped form's `rid`, echoed on `handshake.ok` or `error`.
    pub rid: Option<Rid>,
    /// Codecs the client speaks, in its order of preference.
    pub codecs: Vec<String>,
    /// The project the session belongs to.
    pub project_id: String,
    /// The auth token (a JWT in `jwt` mode; anything in `disabled` mode).
    pub token: Option<String>,
    /// To resume: the session's id. A malformed id is dropped on decode (it
    /// cannot name a session, so the client gets a new one).
    pub session_id: Option<SessionId>,
    /// To resume: the session's resume token.
    pub resume_token: Option<String>,
}

impl Handshake {
    /// A handshake offering `codecs` for `project_id`, no token, no resume.
    pub fn new(project_id: impl Into<String>, codecs: &[Codec]) -> Handshake {
        Handshake {
            rid: None,
            codecs: codecs.iter().map(|c| c.as_str().to_owned()).collect(),
            project_id: project_id.into(),
            token: None,
            session_id: None,
            resume_token: None,
        }
    }

    /// The codec to use: [`negotiate`] over `codecs`.
    pub fn negotiate(&self) -> Result<Codec, DecodeError> {
        negotiate(&self.codecs).map_err(|e| e.with_rid(self.rid.clone()))
    }

    /// The resume pair, when both halves are present.
    pub fn resume(&self) -> Option<(&SessionId, &str)> {
        match (&self.session_id, &self.resume_token) {
            (Some(id), Some(token)) => Some((id, token.as_str())),
            _ => None,
        }
    }

    /// Appends the wrapped JSON form (`{"v":1,"t":"handshake","p":{"v":1,…}}`)
    /// to `buf`. Handshakes are always JSON.
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        Codec::Json.encode_value(self, MessageType::Handshake, buf)
    }
}

/// The payload of a handshake as sent.
#[derive(Serialize)]
struct HandshakePayload<'a> {
    v: u64,
    codecs: &'a [String],
    project_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a SessionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_token: Option<&'a str>,
}

impl Serialize for Handshake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + usize::from(self.rid.is_some())))?;
        map.serialize_entry("v", &PROTOCOL_VERSION)?;
        map.serialize_entry("t", MessageType::Handshake.as_str())?;
        if let Some(rid) = &self.rid {
            map.serialize_entry("rid", rid)?;
        }
        map.serialize_entry(
            "p",
            &HandshakePayload {
                v: PROTOCOL_VERSION,
                codecs: &self.codecs,
                project_id: &self.project_id,
                token: self.token.as_deref(),
                session_id: self.session_id.as_ref(),
                resume_token: self.resume_token.as_deref(),
            },
        )?;
        map.end()
    }
}

/// What the first frame of a connection asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Start or resume a session.
    Handshake(Handshake),
    /// Attach this (QUIC) connection to an existing session as its unreliable
    /// path.
    Attach {
        /// The frame's `rid`, echoed on `session.attach.ok`.
        rid: Option<Rid>,
        /// The session and its resume token.
        attach: SessionAttach,
    },
}

/// Decodes the first frame of a connection with the default [`Limits`]; it must
/// be a handshake. See [`decode_opening`].
pub fn decode_handshake(bytes: &[u8]) -> Result<Handshake, DecodeError> {
    match decode_opening(bytes, &Limits::default())? {
        Opening::Handshake(handshake) => Ok(handshake),
        Opening::Attach { rid, .. } => Err(DecodeError::new(
            ErrorCode::HandshakeRequired,
            "session.attach is only accepted on a QUIC connection; start with a handshake",
        )
        .with_rid(rid)),
    }
}

/// The top-level keys that tell the forms apart.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    t: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    rid: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    p: Option<&'a RawValue>,
    #[serde(borrow, default)]
    codecs: Option<&'a RawValue>,
}

/// The handshake fields, in `p` or at the top level.
#[derive(Deserialize)]
struct HandshakeFields<'a> {
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    codecs: Vec<String>,
    project_id: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    resume_token: Option<String>,
}

/// Decodes the first frame of a connection: always JSON text, either form of
/// the handshake, or `session.attach`.
///
/// Anything that is not a JSON object, or is an object of another type, is
/// `protocol.handshake_required`; a handshake with bad fields is
/// `protocol.bad_frame`; `v` other than 1 is `protocol.unsupported_version`.
pub fn decode_opening(bytes: &[u8], limits: &Limits) -> Result<Opening, DecodeError> {
    check_size(bytes, limits)?;
    let required = |why: String| {
        DecodeError::new(
            ErrorCode::HandshakeRequired,
            format!("the first frame must be a JSON handshake: {why}"),
        )
    };
    let text = json::object_text(bytes).map_err(required)?;
    json::scan(bytes, limits).map_err(DecodeError::bad_frame)?;
    let probe: Probe<'_> = serde_json::from_str(text).map_err(|e| required(e.to_string()))?;
    let rid = read_rid(probe.rid)?;
    let with_rid = |e: DecodeError| e.with_rid(rid.clone());
    let fields: HandshakeFields<'_> = match &probe.t {
        Some(Scalar::Str(t)) if t == "handshake" => {
            check_version(probe.v.as_ref()).map_err(with_rid)?;
            let payload = probe.p.map_or(RawPayload::Absent, RawPayload::Json);
            payload.decode().map_err(|reason| {
                with_rid(DecodeError::bad_frame(format!(
                    "handshake payload: {reason}"
                )))
            })?
        }
        Some(Scalar::Str(t)) if t == "session.attach" => {
            check_version(probe.v.as_ref()).map_err(with_rid)?;
            let payload = probe.p.map_or(RawPayload::Absent, RawPayload::Json);
            let attach = payload.decode().map_err(|reason| {
                with_rid(DecodeError::new(
                    ErrorCode::AuthInvalidToken,
                    format!("session.attach payload: {reason}"),
                ))
            })?;
            return Ok(Opening::Attach { rid, attach });
        }
        Some(Scalar::Str(t)) => {
            return Err(with_rid(required(format!("got {:?}", snippet(t)))));
        }
        Some(_) => return Err(with_rid(required("`t` is not a string".to_owned()))),
        None if probe.codecs.is_some() => {
            check_version(probe.v.as_ref()).map_err(with_rid)?;
            serde_json::from_str(text)
                .map_err(|e| with_rid(DecodeError::bad_frame(format!("handshake: {e}"))))?
        }
        None => {
            return Err(required(
                "an object with neither `t` nor `codecs`".to_owned(),
            ));
        }
    };
    if fields.v.is_some() {
        check_version(fields.v.as_ref()).map_err(with_rid)?;
    }
    Ok(Opening::Handshake(Handshake {
        rid,
        codecs: fields.codecs,
        project_id: fields.project_id,
        token: fields.token,
        session_id: fields.session_id.and_then(|s| SessionId::new(s).ok()),
        resume_token: fields.resume_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(bytes: &[u8]) -> ErrorCode {
        decode_handshake(bytes).expect_err("should fail").code
    }

    #[test]
    fn both_forms_decode_to_the_same_handshake() {
        let wrapped = br#"{"v":1,"t":"handshake","p":{"v":1,"codecs":["msgpack","json"],"project_id":"demo","token":"tk"}}"#;
        let bare = br#"{"v":1,"codecs":["msgpack","json"],"project_id":"demo","token":"tk"}"#;
        let a = decode_handshake(wrapped).expect("wrapped");
        let b = decode_handshake(bare).expect("bare");
        assert_eq!(a, b);
        assert_eq!(a.negotiate(), Ok(Codec::MsgPack));
        let mut buf = Vec::new();
        a.encode(&mut buf).expect("encodes");
        assert_eq!(decode_handshake(&buf), Ok(a));
    }

    #[test]
    fn other_first_frames_require_a_handshake() {
        assert_eq!(
            code(br#"{"v":1,"t":"ping","p":{}}"#),
            ErrorCode::HandshakeRequired
        );
        assert_eq!(code(br#"{"v":1}"#), ErrorCode::HandshakeRequired);
        assert_eq!(code(b"\x81\xa1v\x01"), ErrorCode::HandshakeRequired);
        assert_eq!(code(b"[1,2]"), ErrorCode::HandshakeRequired);
        assert_eq!(code(b"{\"v\":1,"), ErrorCode::HandshakeRequired);
        assert_eq!(code(b""), ErrorCode::HandshakeRequired);
    }

    #[test]
    fn bad_handshakes_say_why() {
        assert_eq!(
            code(br#"{"v":2,"codecs":["json"],"project_id":"p"}"#),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            code(br#"{"v":1,"t":"handshake","p":{"v":3,"codecs":["json"],"project_id":"p"}}"#),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            code(br#"{"v":1,"codecs":"json","project_id":"p"}"#),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code(br#"{"v":1,"t":"handshake","p":{"codecs":["json"]}}"#),
            ErrorCode::BadFrame
        );
    }

    #[test]
    fn a_malformed_session_id_means_a_new_session() {
        let h = decode_handshake(
            br#"{"v":1,"codecs":["json"],"project_id":"p","session_id":"no spaces","resume_token":"x"}"#,
        )
        .expect("decodes");
        assert_eq!(h.session_id, None);
        assert_eq!(h.resume(), None);
    }

    #[test]
    fn attach_is_an_opening_but_not_a_handshake() {
        let bytes =
            br#"{"v":1,"t":"session.attach","rid":4,"p":{"session_id":"s_1","resume_token":"r"}}"#;
        assert!(matches!(
            decode_opening(bytes, &Limits::default()),
            Ok(Opening::Attach {
                rid: Some(Rid::Int(4)),
                ..
            })
        ));
        assert_eq!(code(bytes), ErrorCode::HandshakeRequired);
    }
}
