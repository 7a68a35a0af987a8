//! Identifiers and small values that travel in frames: room, session and ticket
//! ids, request ids, sequence numbers and state checksums.
//!
//! Each is a newtype validated when it is built or decoded, so that code past the
//! decoder never sees an out-of-range id.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest id (room, session, ticket), in bytes.
pub const MAX_ID_LEN: usize = 128;

/// An id string is not 1 to 128 characters of `[A-Za-z0-9._:-]`, or a checksum
/// is not 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {rule}")]
pub struct InvalidId {
    /// What was being parsed (`"room id"`, `"checksum"`…).
    pub kind: &'static str,
    /// The offending input, cut to a readable length.
    pub value: String,
    /// The rule it broke.
    pub rule: &'static str,
}

const ID_RULE: &str = "must be 1 to 128 characters of [A-Za-z0-9._:-]";

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Cloning is cheap (a shared, immutable string): ids are copied into
        /// every frame and fan-out entry.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates `s`: 1 to 128 characters of `[A-Za-z0-9._:-]`.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s = s.into();
                if valid_id(&s) {
                    Ok(Self(std::sync::Arc::from(s)))
                } else {
                    Err(InvalidId {
                        kind: $kind,
                        value: crate::error::snippet(&s),
                        rule: ID_RULE,
                    })
                }
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(s: &str) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct IdVisitor;
                impl Visitor<'_> for IdVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} string ({})", $kind, ID_RULE)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::new(v).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(IdVisitor)
            }
        }
    };
}

string_id!(
    /// A room id: 1 to 128 characters of `[A-Za-z0-9._:-]` (PROTOCOL.md §5).
    RoomId,
    "room id"
);
string_id!(
    /// A session id, chosen by the server (`s_…`); same alphabet as room ids.
    SessionId,
    "session id"
);
string_id!(
    /// A matchmaking ticket id, chosen by the server; same alphabet as room ids.
    TicketId,
    "ticket id"
);

/// A room's state sequence number: `seq` of `state.snapshot`, `state.patch` and
/// `state.ack`. Each patch has the previous `seq` + 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The next sequence number (saturating; 2^64 patches never happen).
    pub const fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A request id chosen by the client: a string or an integer, echoed back
/// exactly as given (a string stays a string, an integer an integer).
///
/// Strings are at most [`Rid::MAX_LEN`] bytes; integers fit an `i64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rid {
    /// `"rid": "c-17"`.
    Str(String),
    /// `"rid": 17`.
    Int(i64),
}

impl Rid {
    /// The longest string rid, in bytes.
    pub const MAX_LEN: usize = 128;
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rid::Str(s) => write!(f, "{s:?}"),
            Rid::Int(n) => n.fmt(f),
        }
    }
}

impl From<&str> for Rid {
    fn from(s: &str) -> Rid {
        Rid::Str(s.to_owned())
    }
}

impl From<String> for Rid {
    fn from(s: String) -> Rid {
        Rid::Str(s)
    }
}

impl From<i64> for Rid {
    fn from(n: i64) -> Rid {
        Rid::Int(n)
    }
}

impl Serialize for Rid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Rid::Str(s) => serializer.serialize_str(s),
            Rid::Int(n) => serializer.serialize_i64(*n),
        }
    }
}

/// A state checksum: xxHash64 of the canonical JSON of the state, on the wire as
/// 16 lowercase hex digits (`"63040b702d7be67f"`).
///
/// Held as the `u64` so comparisons are cheap; converts to and from
/// `arbiter_state`'s checksum through [`Checksum::as_u64`] / `From<u64>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Checksum(pub u64);

impl Checksum {
    /// The raw 64-bit hash.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses exactly 16 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Checksum, InvalidId> {
        let ok = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match u64::from_str_radix(s, 16) {
            Ok(n) if ok => Ok(Checksum(n)),
            _ => Err(InvalidId {
                kind: "checksum",
                value: crate::error::snippet(s),
                rule: "must be 16 lowercase hex digits",
            }),
        }
    }
}

impl From<u64> for Checksum {
    fn from(n: u64) -> Checksum {
        Checksum(n)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({:016x})", self.0)
    }
}

impl FromStr for Checksum {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Checksum, InvalidId> {
        Checksum::parse(s)
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 16];
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in buf.iter_mut().enumerate() {
            let nibble = (self.0 >> (60 - 4 * i)) & 0xf;
            *byte = HEX[nibble as usize];
        }
        // The buffer holds ASCII hex digits only.
        match std::str::from_utf8(&buf) {
            Ok(s) => serializer.serialize_str(s),
            Err(_) => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChecksumVisitor;
        impl Visitor<'_> for ChecksumVisitor {
            type Value = Checksum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a checksum string of 16 lowercase hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Checksum, E> {
                Checksum::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(ChecksumVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_follow_the_alphabet_and_length() {
        for ok in ["a", "arena-1", "A.b_c:d-9", &"x".repeat(128)] {
            assert!(RoomId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "a\u{0}", &"x".repeat(129)] {
            let err = RoomId::new(bad).expect_err(bad);
            assert_eq!(err.kind, "room id");
        }
        assert!(serde_json::from_str::<RoomId>("\"arena 1\"").is_err());
        assert!(serde_json::from_str::<RoomId>("7").is_err());
    }

    #[test]
    fn checksum_is_16_lowercase_hex() {
        let c = Checksum::parse("63040b702d7be67f").expect("valid");
        assert_eq!(c.as_u64(), 0x6304_0b70_2d7b_e67f);
        assert_eq!(c.to_string(), "63040b702d7be67f");
        assert_eq!(
            serde_json::to_string(&Checksum(1)).expect("serializes"),
            "\"0000000000000001\""
        );
        for bad in [
            "63040B702D7BE67F",
            "63040b702d7be67",
            "63040b702d7be67f0",
            "+3040b702d7be67f",
            "",
        ] {
            assert!(Checksum::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rid_serializes_as_given() {
        assert_eq!(
            serde_json::to_string(&Rid::from("c-1")).expect("ok"),
            "\"c-1\""
        );
        assert_eq!(serde_json::to_string(&Rid::Int(-4)).expect("ok"), "-4");
    }
}
