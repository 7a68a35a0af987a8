//! The two codecs (JSON and MessagePack), their negotiation, and the entry
//! points that encode and decode frames.

pub(crate) mod json;
pub(crate) mod msgpack;

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::{self, ClientFrame};
use crate::envelope::RawFrame;
use crate::error::{DecodeError, EncodeError, snippet};
use crate::error_code::ErrorCode;
use crate::ids::RoomId;
use crate::limits::Limits;
use crate::message_type::MessageType;
use crate::server::{self, ServerFrame};

/// A wire codec. Both carry the same maps with the same keys.
///
/// Over WebSocket, JSON frames are text messages and MessagePack frames binary
/// messages ([`Codec::is_binary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `"json"`: UTF-8 JSON text.
    Json,
    /// `"msgpack"`: MessagePack, structs as maps with string keys.
    MsgPack,
}

impl Codec {
    /// The codecs this crate supports, in the order it prefers them.
    pub const SUPPORTED: [Codec; 2] = [Codec::MsgPack, Codec::Json];

    /// The name used in the handshake's `codecs` list and in `handshake.ok`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::MsgPack => "msgpack",
        }
    }

    /// Parses a codec name (exact, lowercase).
    pub fn from_wire(s: &str) -> Option<Codec> {
        match s {
            "json" => Some(Codec::Json),
            "msgpack" => Some(Codec::MsgPack),
            _ => None,
        }
    }

    /// Whether frames of this codec are binary (WebSocket binary messages).
    pub const fn is_binary(self) -> bool {
        matches!(self, Codec::MsgPack)
    }

    /// Decodes a frame a client sent. Any failure is a [`DecodeError`] with the
    /// wire code to answer; no input panics or allocates beyond its size.
    pub fn decode_client(self, bytes: &[u8], limits: &Limits) -> Result<ClientFrame, DecodeError> {
        client::decode(self.split(bytes, limits)?.into_header()?)
    }

    /// Decodes a frame a server sent (for clients, tests and load generators;
    /// use [`Limits::for_server_frames`]).
    pub fn decode_server(self, bytes: &[u8], limits: &Limits) -> Result<ServerFrame, DecodeError> {
        server::decode(self.split(bytes, limits)?.into_header()?)
    }

    /// Appends the encoding of a server frame to `buf` (which is not cleared, so
    /// that a caller can reuse it or put a length prefix first). On error `buf`
    /// is left as it was.
    pub fn encode_server(self, frame: &ServerFrame, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let ty = frame.msg.message_type();
        check_rooms(
            ty,
            frame.room.as_ref(),
            frame.msg.payload_room(),
            frame.msg.room_in_envelope(),
        )?;
        self.encode_value(frame, ty, buf)
    }

    /// Appends the encoding of a client frame to `buf`; see
    /// [`Codec::encode_server`].
    pub fn encode_client(self, frame: &ClientFrame, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let ty = frame.msg.message_type();
        check_rooms(
            ty,
            frame.room.as_ref(),
            frame.msg.payload_room(),
            frame.msg.room_in_envelope(),
        )?;
        self.encode_value(frame, ty, buf)
    }

    /// Encodes any serializable value in this codec (structs as maps).
    pub(crate) fn encode_value<T: Serialize>(
        self,
        value: &T,
        ty: MessageType,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = buf.len();
        let result = match self {
            Codec::Json => serde_json::to_writer(&mut *buf, value).map_err(|e| e.to_string()),
            Codec::MsgPack => {
                let mut serializer = rmp_serde::Serializer::new(&mut *buf).with_struct_map();
                value.serialize(&mut serializer).map_err(|e| e.to_string())
            }
        };
        result.map_err(|reason| {
            buf.truncate(start);
            EncodeError {
                message_type: ty,
                reason,
            }
        })
    }

    fn split<'a>(self, bytes: &'a [u8], limits: &Limits) -> Result<RawFrame<'a>, DecodeError> {
        check_size(bytes, limits)?;
        match self {
            Codec::Json => json::split(bytes, limits),
            Codec::MsgPack => msgpack::split(bytes, limits),
        }
    }
}

/// Rejects a frame above `limits.max_frame_bytes` with `protocol.too_large`.
pub(crate) fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(DecodeError::new(
            ErrorCode::TooLarge,
            format!(
                "the frame is {} bytes; the limit is {}",
                bytes.len(),
                limits.max_frame_bytes
            ),
        ));
    }
    Ok(())
}

/// A frame must name its room where the decoder will look for it.
fn check_rooms(
    ty: MessageType,
    envelope: Option<&RoomId>,
    payload: Option<&RoomId>,
    needs_envelope: bool,
) -> Result<(), EncodeError> {
    let reason = match (envelope, payload) {
        (None, _) if needs_envelope => "the frame needs the envelope's `room`".to_owned(),
        (Some(env), Some(p)) if env != p => {
            format!("the envelope's room {env} differs from the payload's room {p}")
        }
        _ => return Ok(()),
    };
    Err(EncodeError {
        message_type: ty,
        reason,
    })
}

/// Picks the codec: the first entry of the client's list that this crate
/// supports. None supported is `protocol.no_common_codec`.
pub fn negotiate<S: AsRef<str>>(offered: &[S]) -> Result<Codec, DecodeError> {
    if let Some(codec) = offered.iter().find_map(|c| Codec::from_wire(c.as_ref())) {
        return Ok(codec);
    }
    let shown: Vec<String> = offered
        .iter()
        .take(8)
        .map(|c| snippet(c.as_ref()))
        .collect();
    Err(DecodeError::new(
        ErrorCode::NoCommonCodec,
        format!(
            "none of the offered codecs {shown:?} is supported; this server speaks \"msgpack\" and \"json\""
        ),
    ))
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`Codec::from_str`] is not a codec name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?} (expected \"json\" or \"msgpack\")")]
pub struct UnknownCodec(pub String);

impl FromStr for Codec {
    type Err = UnknownCodec;
    fn from_str(s: &str) -> Result<Codec, UnknownCodec> {
        Codec::from_wire(s).ok_or_else(|| UnknownCodec(s.to_owned()))
    }
}

impl Serialize for Codec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Codec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodecVisitor;
        impl Visitor<'_> for CodecVisitor {
            type Value = Codec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"json\" or \"msgpack\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Codec, E> {
                Codec::from_wire(v)
                    .ok_or_else(|| E::custom(format_args!("unknown codec {:?}", snippet(v))))
            }
        }
        deserializer.deserialize_str(CodecVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_clients_first_supported_codec() {
        assert_eq!(negotiate(&["msgpack", "json"]), Ok(Codec::MsgPack));
        assert_eq!(negotiate(&["json", "msgpack"]), Ok(Codec::Json));
        assert_eq!(negotiate(&["cbor", "json"]), Ok(Codec::Json));
        let none = negotiate(&["cbor", "JSON"]).expect_err("no common codec");
        assert_eq!(none.code, ErrorCode::NoCommonCodec);
        assert!(none.reason.contains("cbor"));
        let empty: [&str; 0] = [];
        assert!(negotiate(&empty).is_err());
    }

    #[test]
    fn oversized_frames_are_too_large_in_both_codecs() {
        let limits = Limits {
            max_frame_bytes: 8,
            ..Limits::default()
        };
        for codec in Codec::SUPPORTED {
            let err = codec
                .decode_client(br#"{"v":1,"t":"ping"}"#, &limits)
                .expect_err("too large");
            assert_eq!(err.code, ErrorCode::TooLarge);
        }
    }
}
