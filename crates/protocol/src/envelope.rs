//! The envelope every frame shares: `{ v, t, rid?, room?, p? }`.
//!
//! Decoding happens in two steps. A codec splits the frame into its envelope
//! fields, read as small [`Scalar`]s, and the payload `p`, kept as a borrowed
//! slice ([`RawPayload`]). [`RawFrame::into_header`] then checks the envelope
//! (reading `rid` first, so every later error can carry it), and the client or
//! server module decodes `p` into the payload type that `t` names.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::error::{DecodeError, snippet};
use crate::error_code::ErrorCode;
use crate::ids::{Rid, RoomId};
use crate::message_type::MessageType;

/// The protocol version this crate speaks, the envelope's `v`.
pub const PROTOCOL_VERSION: u64 = 1;

/// An envelope field as read, before it is checked: a primitive, or just the
/// kind of a container.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Scalar<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::UInt(_) => "an integer",
            Scalar::Float(_) => "a float",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// The payload `p` of a frame, not yet decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawPayload<'a> {
    /// No `p` (or `p: null`): decoded as an empty object.
    Absent,
    /// `p` of a JSON frame.
    Json(&'a RawValue),
    /// `p` of a MessagePack frame, already scanned against the limits.
    MsgPack(&'a [u8]),
}

impl<'a> RawPayload<'a> {
    /// Decodes the payload as `T`, which must come from a map/object (never a
    /// positional array). The error is a bare reason.
    pub(crate) fn decode<T: Deserialize<'a>>(&self) -> Result<T, String> {
        match self {
            RawPayload::Absent => {
                let empty =
                    MapDeserializer::<_, de::value::Error>::new(std::iter::empty::<(&str, ())>());
                T::deserialize(empty).map_err(|e| e.to_string())
            }
            RawPayload::Json(raw) => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                let value = de
                    .deserialize_map(ObjectOnly::<T>(PhantomData))
                    .map_err(|e| e.to_string())?;
                de.end().map_err(|e| e.to_string())?;
                Ok(value)
            }
            RawPayload::MsgPack(bytes) => {
                let mut de = rmp_serde::Deserializer::from_read_ref(*bytes);
                (&mut de)
                    .deserialize_map(ObjectOnly::<T>(PhantomData))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// A visitor that accepts a map only and hands it to `T`'s own deserializer, so
/// that a struct is never read from a positional array.
pub(crate) struct ObjectOnly<T>(pub(crate) PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object (a map with string keys)")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// A frame split by a codec: the envelope fields as read, the payload raw.
#[derive(Debug)]
pub(crate) struct RawFrame<'a> {
    pub(crate) v: Option<Scalar<'a>>,
    pub(crate) t: Option<Scalar<'a>>,
    pub(crate) rid: Option<Scalar<'a>>,
    pub(crate) room: Option<Scalar<'a>>,
    pub(crate) p: RawPayload<'a>,
}

/// A checked envelope: known type, valid rid and room.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) rid: Option<Rid>,
    pub(crate) ty: MessageType,
    pub(crate) room: Option<RoomId>,
    pub(crate) p: RawPayload<'a>,
}

/// Reads `rid`: a string of at most [`Rid::MAX_LEN`] bytes or an `i64`;
/// `null` is no rid.
pub(crate) fn read_rid(rid: Option<Scalar<'_>>) -> Result<Option<Rid>, DecodeError> {
    match rid {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) if s.len() <= Rid::MAX_LEN => Ok(Some(Rid::Str(s.into_owned()))),
        Some(Scalar::Str(s)) => Err(DecodeError::bad_frame(format!(
            "rid is {} bytes long; the limit is {}",
            s.len(),
            Rid::MAX_LEN
        ))),
        Some(Scalar::Int(n)) => Ok(Some(Rid::Int(n))),
        Some(Scalar::UInt(n)) => match i64::try_from(n) {
            Ok(n) => Ok(Some(Rid::Int(n))),
            Err(_) => Err(DecodeError::bad_frame(format!(
                "rid {n} is out of range; integer rids must fit a signed 64-bit integer"
            ))),
        },
        Some(other) => Err(DecodeError::bad_frame(format!(
            "rid must be a string or an integer, got {}",
            other.kind()
        ))),
    }
}

/// Checks `v`: an integer equal to [`PROTOCOL_VERSION`].
pub(crate) fn check_version(v: Option<&Scalar<'_>>) -> Result<(), DecodeError> {
    let unsupported = |shown: String| {
        DecodeError::new(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol version 1; the frame has v = {shown}"),
        )
    };
    match v {
        Some(Scalar::UInt(1)) | Some(Scalar::Int(1)) => Ok(()),
        Some(Scalar::UInt(n)) => Err(unsupported(n.to_string())),
        Some(Scalar::Int(n)) => Err(unsupported(n.to_string())),
        Some(Scalar::Float(x)) => Err(unsupported(format!("{x} (a float; send the integer 1)"))),
        None | Some(Scalar::Null) => Err(DecodeError::bad_frame(
            "missing `v`: every frame starts with \"v\": 1",
        )),
        Some(other) => Err(DecodeError::bad_frame(format!(
            "`v` must be the integer 1, got {}",
            other.kind()
        ))),
    }
}

impl<'a> RawFrame<'a> {
    /// Checks the envelope. `rid` is read first so that later errors carry it.
    pub(crate) fn into_header(self) -> Result<Header<'a>, DecodeError> {
        let rid = read_rid(self.rid)?;
        let with_rid = |e: DecodeError| e.with_rid(rid.clone());
        check_version(self.v.as_ref()).map_err(with_rid)?;
        let t = match self.t {
            Some(Scalar::Str(t)) => t,
            None | Some(Scalar::Null) => {
                return Err(with_rid(DecodeError::bad_frame(
                    "missing `t`: every frame names its message type",
                )));
            }
            Some(other) => {
                return Err(with_rid(DecodeError::bad_frame(format!(
                    "`t` must be a string, got {}",
                    other.kind()
                ))));
            }
        };
        let Some(ty) = MessageType::from_wire(&t) else {
            return Err(with_rid(DecodeError::new(
                ErrorCode::UnknownType,
                format!("unknown message type {:?}", snippet(&t)),
            )));
        };
        let room = match self.room {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Str(s)) => match RoomId::new(s.into_owned()) {
                Ok(room) => Some(room),
                Err(e) => {
                    return Err(with_rid(
                        DecodeError::bad_frame(e.to_string()).with_type(ty),
                    ));
                }
            },
            Some(other) => {
                return Err(with_rid(
                    DecodeError::bad_frame(format!(
                        "`room` must be a string, got {}",
                        other.kind()
                    ))
                    .with_type(ty),
                ));
            }
        };
        Ok(Header {
            rid,
            ty,
            room,
            p: self.p,
        })
    }
}

impl Header<'_> {
    /// An error about this frame, carrying its rid and type.
    pub(crate) fn error(&self, code: ErrorCode, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(code, reason)
            .with_rid(self.rid.clone())
            .with_type(self.ty)
    }

    /// Decodes `p` as `T`; failures are `protocol.bad_frame`.
    pub(crate) fn payload<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        self.payload_or(ErrorCode::BadFrame)
    }

    /// Decodes `p` as `T`; failures get `code`.
    pub(crate) fn payload_or<T: DeserializeOwned>(
        &self,
        code: ErrorCode,
    ) -> Result<T, DecodeError> {
        self.p
            .decode()
            .map_err(|reason| self.error(code, format!("{} payload: {reason}", self.ty)))
    }

    /// The room of a type whose payload has a `room` field: from `p.room`, or
    /// else from the envelope; both given and different is an error.
    pub(crate) fn payload_room(&self, in_payload: Option<RoomId>) -> Result<RoomId, DecodeError> {
        match self.optional_room(in_payload)? {
            Some(room) => Ok(room),
            None => Err(self.error(
                ErrorCode::BadFrame,
                format!(
                    "{} needs a room: set `p.room` (or the envelope's `room`)",
                    self.ty
                ),
            )),
        }
    }

    /// Like [`Header::payload_room`] for types where the room is optional.
    pub(crate) fn optional_room(
        &self,
        in_payload: Option<RoomId>,
    ) -> Result<Option<RoomId>, DecodeError> {
        match (in_payload, &self.room) {
            (Some(p), Some(env)) if &p != env => Err(self.error(
                ErrorCode::BadFrame,
                format!(
                    "the envelope's room {env:?} differs from p.room {:?}",
                    p.as_str()
                ),
            )),
            (Some(p), _) => Ok(Some(p)),
            (None, env) => Ok(env.clone()),
        }
    }

    /// The room of a type whose room travels in the envelope (`room.message`,
    /// `state.patch`…): the envelope's `room`, or else `p.room`.
    pub(crate) fn envelope_room(&self, in_payload: Option<RoomId>) -> Result<RoomId, DecodeError> {
        match self.optional_room(in_payload)? {
            Some(room) => Ok(room),
            None => Err(self.error(
                ErrorCode::BadFrame,
                format!("{} needs a room: set the envelope's `room`", self.ty),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: Option<Scalar<'static>>, t: &'static str) -> RawFrame<'static> {
        RawFrame {
            v,
            t: Some(Scalar::Str(Cow::Borrowed(t))),
            rid: Some(Scalar::Str(Cow::Borrowed("r1"))),
            room: None,
            p: RawPayload::Absent,
        }
    }

    #[test]
    fn version_must_be_the_integer_one() {
        assert!(frame(Some(Scalar::UInt(1)), "ping").into_header().is_ok());
        let err = frame(Some(Scalar::UInt(2)), "ping")
            .into_header()
            .expect_err("v=2");
        assert_eq!(err.code, ErrorCode::UnsupportedVersion);
        assert_eq!(err.rid, Some(Rid::from("r1")));
        let err = frame(None, "ping").into_header().expect_err("no v");
        assert_eq!(err.code, ErrorCode::BadFrame);
        let err = frame(Some(Scalar::Str("1".into())), "ping")
            .into_header()
            .expect_err("v=\"1\"");
        assert_eq!(err.code, ErrorCode::BadFrame);
    }

    #[test]
    fn unknown_types_keep_the_rid() {
        let err = frame(Some(Scalar::UInt(1)), "room.jion")
            .into_header()
            .expect_err("typo");
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert_eq!(err.rid, Some(Rid::from("r1")));
        assert!(err.reason.contains("room.jion"));
    }

    #[test]
    fn rids_are_strings_or_i64() {
        assert_eq!(read_rid(Some(Scalar::UInt(7))), Ok(Some(Rid::Int(7))));
        assert_eq!(read_rid(Some(Scalar::Int(-7))), Ok(Some(Rid::Int(-7))));
        assert_eq!(read_rid(Some(Scalar::Null)), Ok(None));
        assert!(read_rid(Some(Scalar::UInt(u64::MAX))).is_err());
        assert!(read_rid(Some(Scalar::Float(1.5))).is_err());
        assert!(read_rid(Some(Scalar::Object)).is_err());
        let long = "r".repeat(Rid::MAX_LEN + 1);
        assert!(read_rid(Some(Scalar::Str(long.into()))).is_err());
    }

    #[test]
    fn an_absent_payload_is_an_empty_object() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Opt {
            a: Option<u32>,
        }
        assert_eq!(RawPayload::Absent.decode::<Opt>(), Ok(Opt { a: None }));
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Req {
            a: u32,
        }
        let err = RawPayload::Absent.decode::<Req>().expect_err("missing a");
        assert!(err.contains("missing field `a`"), "{err}");
    }
}
