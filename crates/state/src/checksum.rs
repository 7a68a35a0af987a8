//! The state checksum: xxHash64 (seed 0) of the canonical JSON, as 16 hex digits.
//!
//! The canonical bytes are streamed into the hasher through a small stack buffer,
//! so computing a checksum allocates nothing.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use xxhash_rust::xxh64::Xxh64;

use crate::canonical::{Sink, emit};
use crate::error::ChecksumParseError;

/// A state checksum. Displays, serializes and parses as exactly 16 lowercase hex
/// digits (`"2e1472b57af294d1"` is the checksum of `{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(u64);

impl Checksum {
    /// Wraps a raw xxHash64 value.
    pub const fn from_u64(value: u64) -> Self {
        Checksum(value)
    }

    /// The raw xxHash64 value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Checksum {
    fn from(value: u64) -> Self {
        Checksum(value)
    }
}

impl From<Checksum> for u64 {
    fn from(checksum: Checksum) -> u64 {
        checksum.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Checksum {
    type Err = ChecksumParseError;

    /// Accepts exactly 16 characters from `0-9a-f` (no sign, prefix or upper case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(ChecksumParseError);
        }
        u64::from_str_radix(s, 16)
            .map(Checksum)
            .map_err(|_| ChecksumParseError)
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Checksum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a state checksum: 16 lowercase hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Checksum, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The checksum of `value`: xxHash64, seed 0, of [`crate::canonical_json`]`(value)`.
pub fn checksum(value: &Value) -> Checksum {
    checksum_and_len(value).0
}

/// The checksum of `value` and the length of its canonical JSON, from one
/// walk: a room learns what a snapshot of its state weighs for free while it
/// computes the checksum it needs anyway.
pub fn checksum_and_len(value: &Value) -> (Checksum, usize) {
    let mut sink = HashSink {
        hasher: Xxh64::new(0),
        buf: [0; BUF_LEN],
        len: 0,
        total: 0,
    };
    match emit(value, &mut sink) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    sink.hasher.update(&sink.buf[..sink.len]);
    (Checksum(sink.hasher.digest()), sink.total + sink.len)
}

const BUF_LEN: usize = 1024;

/// Batches the many tiny writes of the canonical writer into hasher updates.
struct HashSink {
    hasher: Xxh64,
    buf: [u8; BUF_LEN],
    len: usize,
    /// Bytes already passed to the hasher.
    total: usize,
}

impl Sink for HashSink {
    type Error = Infallible;

    fn put(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        // Punctuation comes one byte at a time: skip the general copy.
        if let ([byte], Some(slot)) = (bytes, self.buf.get_mut(self.len)) {
            *slot = *byte;
            self.len += 1;
            return Ok(());
        }
        if let Some(room) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            room.copy_from_slice(bytes);
            self.len += bytes.len();
            return Ok(());
        }
        self.hasher.update(&self.buf[..self.len]);
        self.total += self.len;
        self.len = 0;
        if bytes.len() >= BUF_LEN {
            self.total += bytes.len();
            self.hasher.update(bytes);
        } else {
            self.buf[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_object_and_known_digest() {
        assert_eq!(checksum(&json!({})).to_string(), "2e1472b57af294d1");
        // xxh64("") with seed 0, the reference value.
        assert_eq!(xxhash_rust::xxh64::xxh64(b"", 0), 0xef46db3751d8e999);
    }

    #[test]
    fn streamed_hash_equals_hash_of_canonical_text() {
        let long = "é".repeat(3000);
        let doc = json!({"long": long, "list": (0..500).collect::<Vec<_>>(), "k": {"x": 1.5}});
        let text = crate::canonical_json(&doc);
        assert_eq!(
            checksum(&doc).as_u64(),
            xxhash_rust::xxh64::xxh64(text.as_bytes(), 0)
        );
        assert_eq!(checksum_and_len(&doc), (checksum(&doc), text.len()));
        assert_eq!(checksum_and_len(&json!({})).1, 2);
        assert_eq!(crate::canonical_len(&doc), text.len());
    }

    #[test]
    fn text_form() {
        let c = Checksum::from_u64(0xab);
        assert_eq!(u64::from(c), 0xab);
        assert_eq!(Checksum::from(0xab), c);
        assert_eq!(c.to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse(), Ok(c));
        for bad in [
            "",
            "ab",
            "00000000000000AB",
            "+0000000000000ab",
            "00000000000000abc",
            "0x000000000000ab",
        ] {
            assert_eq!(bad.parse::<Checksum>(), Err(ChecksumParseError), "{bad:?}");
        }
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"00000000000000ab\"");
        assert_eq!(serde_json::from_str::<Checksum>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Checksum>("171").is_err());
        assert!(serde_json::from_str::<Checksum>("\"zz\"").is_err());
    }
}
