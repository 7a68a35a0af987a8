//! A borrowing decoder for the `arbiter_on_message` input, the hot hook.
//!
//! The generic path (`rmp_serde` into [`MessageInput`]) allocates the sender's
//! ids, the type and a whole `serde_json::Value` tree for `data` on every call.
//! [`MessageRef::parse`] reads the same map in place instead: strings are
//! borrowed from the input buffer and `data` stays encoded ([`Data`]), to be
//! decoded only as far as the room asks.
//!
//! It accepts only the canonical shape the host writes (a map with string keys;
//! a `client` map). Anything else (positional arrays, a duplicate key, a missing
//! field, a bad type) returns `None` and the caller decodes with `rmp_serde`,
//! which either accepts the input the same way or produces the error message.
//! So this decoder can refuse more than serde, never accept differently.
//!
//! [`MessageInput`]: arbiter_plugin_abi::MessageInput

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The fields of a `MessageInput`, borrowed from the encoded input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MessageRef<'a> {
    /// `client.session_id`.
    pub(crate) session_id: &'a str,
    /// `client.user_id`.
    pub(crate) user_id: &'a str,
    /// `type`.
    pub(crate) kind: &'a str,
    /// `data`, still encoded (absent or `nil`: [`Data::NULL`]).
    pub(crate) data: Data<'a>,
    /// `bytes`, when present and not `nil`.
    pub(crate) bytes: Option<&'a [u8]>,
    /// `now_ms`.
    pub(crate) now_ms: u64,
}

impl<'a> MessageRef<'a> {
    /// Reads a whole input, or `None` if it is not in the canonical shape.
    pub(crate) fn parse(input: &'a [u8]) -> Option<Self> {
        let mut rd = Reader { buf: input, pos: 0 };
        let (mut client, mut kind, mut data, mut bytes, mut now_ms) =
            (None, None, None, None, None);
        for _ in 0..rd.map_len()? {
            let slot_taken = match rd.str()? {
                "client" => client.replace(rd.client()?).is_some(),
                "type" => kind.replace(rd.str()?).is_some(),
                "data" => data.replace(Data::new(rd.value()?)).is_some(),
                "bytes" => bytes.replace(rd.bin_or_nil()?).is_some(),
                "now_ms" => now_ms.replace(rd.uint()?).is_some(),
                _ => {
                    rd.skip()?;
                    false
                }
            };
            if slot_taken {
                return None; // serde refuses duplicate fields
            }
        }
        if rd.pos != input.len() {
            return None;
        }
        let (session_id, user_id) = client?;
        Some(MessageRef {
            session_id,
            user_id,
            kind: kind?,
            data: data.unwrap_or(Data::NULL),
            bytes: bytes.flatten(),
            now_ms: now_ms?,
        })
    }
}

/// The `data` of a `room.message`, still in MessagePack as the host sent it.
///
/// [`crate::Room::message_data`] receives it. Decode the whole value with
/// [`Data::to_value`], or straight into your own type with [`Data::decode`],
/// which skips the fields the type does not name and builds no JSON tree:
///
/// ```
/// use arbiter_plugin_sdk::Data;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Move { x: f64, y: f64 }
///
/// # let bytes = rmp_serde::to_vec_named(&serde_json::json!({"x": 1.5, "y": 2, "seq": 7})).unwrap();
/// # let data = Data::from_msgpack(&bytes);
/// let m: Move = data.decode()?;
/// assert_eq!((m.x, m.y), (1.5, 2.0));
/// assert_eq!(data.to_value()?["seq"], 7);
/// # Ok::<(), arbiter_plugin_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// One complete MessagePack value.
    raw: &'a [u8],
}

impl<'a> Data<'a> {
    /// `null` (a message without `data`).
    pub const NULL: Data<'static> = Data { raw: &[0xc0] };

    fn new(raw: &'a [u8]) -> Self {
        Data { raw }
    }

    /// Wraps one encoded MessagePack value (for tests and tools; the SDK builds
    /// `Data` from the hook input itself).
    pub fn from_msgpack(raw: &'a [u8]) -> Self {
        Data { raw }
    }

    /// The encoded value.
    pub fn as_msgpack(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the data is `null` (or absent).
    pub fn is_null(&self) -> bool {
        self.raw == [0xc0]
    }

    /// The data as a JSON value: what [`crate::Room::message`] receives.
    pub fn to_value(&self) -> Result<Value> {
        rmp_serde::from_slice(self.raw).map_err(|e| Error::Input(e.to_string()))
    }

    /// The data decoded into `T`; [`Error::Data`] if it does not fit. Numbers
    /// convert as in `rmp_serde` (an integer fits an `f64` field). Note that a
    /// derived `Deserialize` also accepts a struct as an array of its fields; use
    /// [`Data::to_value`] when only an object may do.
    pub fn decode<T: Deserialize<'a>>(&self) -> Result<T> {
        rmp_serde::from_slice(self.raw).map_err(|e| Error::Data(e.to_string()))
    }
}

impl Default for Data<'_> {
    fn default() -> Self {
        Data::NULL
    }
}

/// A cursor over MessagePack bytes. Every read checks bounds; `None` means
/// malformed or not the expected type.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A big-endian unsigned integer of `n` (1, 2, 4 or 8) bytes.
    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    }

    fn len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.be(n)?).ok()
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(usize::from(m & 0x0f)),
            0xde => self.len(2),
            0xdf => self.len(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.len(1)?,
            0xda => self.len(2)?,
            0xdb => self.len(4)?,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    /// `bin` → `Some(bytes)`, `nil` → `Some(None)`.
    fn bin_or_nil(&mut self) -> Option<Option<&'a [u8]>> {
        let len = match self.byte()? {
            0xc0 => return Some(None),
            0xc4 => self.len(1)?,
            0xc5 => self.len(2)?,
            0xc6 => self.len(4)?,
            _ => return None,
        };
        Some(Some(self.take(len)?))
    }

    /// A non-negative integer of any width.
    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x00..=0x7f => Some(u64::from(m)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            m @ 0xd0..=0xd3 => {
                let n = 1usize << (m - 0xd0);
                let raw = self.be(n)?;
                // Sign-extend, then refuse negatives (as a `u64` field does).
                let shift = 64 - 8 * n as u32;
                let signed = ((raw << shift) as i64) >> shift;
                u64::try_from(signed).ok()
            }
            _ => None,
        }
    }

    /// `{ session_id, user_id }`.
    fn client(&mut self) -> Option<(&'a str, &'a str)> {
        let (mut sid, mut uid) = (None, None);
        for _ in 0..self.map_len()? {
            let taken = match self.str()? {
                "session_id" => sid.replace(self.str()?).is_some(),
                "user_id" => uid.replace(self.str()?).is_some(),
                _ => {
                    self.skip()?;
                    false
                }
            };
            if taken {
                return None;
            }
        }
        Some((sid?, uid?))
    }

    /// The bytes of the next complete value.
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        self.skip()?;
        self.buf.get(start..self.pos)
    }

    /// Skips one complete value (nesting is iterative, so depth costs no stack).
    fn skip(&mut self) -> Option<()> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let (skip, items) = match self.byte()? {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
                m @ 0x80..=0x8f => (0, 2 * u64::from(m & 0x0f)),
                m @ 0x90..=0x9f => (0, u64::from(m & 0x0f)),
                m @ 0xa0..=0xbf => (usize::from(m & 0x1f), 0),
                0xc4 | 0xd9 => (self.len(1)?, 0),
                0xc5 | 0xda => (self.len(2)?, 0),
                0xc6 | 0xdb => (self.len(4)?, 0),
                0xc7 => (self.len(1)? + 1, 0),
                0xc8 => (self.len(2)? + 1, 0),
                0xc9 => (self.len(4)?.checked_add(1)?, 0),
                0xca | 0xce | 0xd2 => (4, 0),
                0xcb | 0xcf | 0xd3 => (8, 0),
                0xcc | 0xd0 => (1, 0),
                0xcd | 0xd1 => (2, 0),
                0xd4 => (2, 0),
                0xd5 => (3, 0),
                0xd6 => (5, 0),
                0xd7 => (9, 0),
                0xd8 => (17, 0),
                0xdc => (0, self.be(2)?),
                0xdd => (0, self.be(4)?),
                0xde => (0, 2 * self.be(2)?),
                0xdf => (0, 2 * self.be(4)?),
                // 0xc1 is never used.
                _ => return None,
            };
            self.take(skip)?;
            pending = pending.checked_add(items)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_plugin_abi::{Client, MessageInput};
    use serde_json::json;

    fn input(data: Option<Value>, bytes: Option<Vec<u8>>) -> MessageInput {
        MessageInput {
            client: Client {
                session_id: "s_a/b~".into(),
                user_id: "u-1".into(),
            },
            kind: "move".into(),
            data,
            bytes,
            now_ms: 1_700_000_000_123,
        }
    }

    fn parsed(encoded: &[u8]) -> Option<MessageRef<'_>> {
        MessageRef::parse(encoded)
    }

    #[test]
    fn reads_what_the_host_writes() {
        let data = json!({"x": 1.5, "y": -2, "deep": [1, {"k": null}, "s"], "big": u64::MAX});
        let enc = rmp_serde::to_vec_named(&input(Some(data.clone()), None)).unwrap();
        let m = parsed(&enc).unwrap();
        assert_eq!((m.session_id, m.user_id, m.kind), ("s_a/b~", "u-1", "move"));
        assert_eq!(m.now_ms, 1_700_000_000_123);
        assert_eq!(m.bytes, None);
        assert_eq!(m.data.to_value().unwrap(), data);

        let enc = rmp_serde::to_vec_named(&input(None, Some(vec![0, 1, 255]))).unwrap();
        let m = parsed(&enc).unwrap();
        assert_eq!(m.bytes, Some(&[0, 1, 255][..]));
        assert!(m.data.is_null());
        assert_eq!(m.data.to_value().unwrap(), Value::Null);
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        // Positional (array) encoding, which rmp_serde also accepts.
        let enc = rmp_serde::to_vec(&input(Some(json!(1)), Some(vec![2]))).unwrap();
        assert!(parsed(&enc).is_none());
        assert!(rmp_serde::from_slice::<MessageInput>(&enc).is_ok());
        // Truncated, trailing bytes, missing fields, wrong types, duplicates.
        let good = rmp_serde::to_vec_named(&input(Some(json!([1])), None)).unwrap();
        assert!(parsed(&good[..good.len() - 1]).is_none());
        let mut trailing = good.clone();
        trailing.push(0xc0);
        assert!(parsed(&trailing).is_none());
        for map in [
            json!({"type": "t", "now_ms": 1}),
            json!({"client": {"session_id": "s"}, "type": "t", "now_ms": 1}),
            json!({"client": {"session_id": "s", "user_id": "u"}, "type": 3, "now_ms": 1}),
            json!({"client": {"session_id": "s", "user_id": "u"}, "type": "t", "now_ms": -1}),
            json!({"client": {"session_id": "s", "user_id": "u"}, "type": "t", "now_ms": 1.5}),
        ] {
            let enc = rmp_serde::to_vec_named(&map).unwrap();
            assert!(parsed(&enc).is_none(), "{map}");
            assert!(
                rmp_serde::from_slice::<MessageInput>(&enc).is_err(),
                "{map}"
            );
        }
        // A duplicate key: 0x84 map, "type" twice.
        let mut dup = vec![0x84];
        for (k, v) in [
            ("client", None),
            ("type", Some("a")),
            ("type", Some("b")),
            ("now_ms", None),
        ] {
            dup.extend(rmp_serde::to_vec(k).unwrap());
            match (k, v) {
                ("client", _) => dup.extend(
                    rmp_serde::to_vec_named(&json!({"session_id": "s", "user_id": "u"})).unwrap(),
                ),
                ("now_ms", _) => dup.push(1),
                (_, Some(v)) => dup.extend(rmp_serde::to_vec(v).unwrap()),
                _ => unreachable!(),
            }
        }
        assert!(parsed(&dup).is_none());
        assert!(rmp_serde::from_slice::<MessageInput>(&dup).is_err());
    }

    #[test]
    fn unknown_keys_and_every_integer_width_are_accepted() {
        for now in [
            0u64,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let map = json!({
                "extra": {"nested": [1, 2.5, "x", null, true, {"a": [[]]}]},
                "client": {"session_id": "s", "user_id": "u", "more": [1]},
                "type": "t", "now_ms": now, "data": null, "bytes": null,
            });
            let enc = rmp_serde::to_vec_named(&map).unwrap();
            let m = parsed(&enc).unwrap();
            assert_eq!((m.now_ms, m.bytes, m.data), (now, None, Data::NULL));
            let serde: MessageInput = rmp_serde::from_slice(&enc).unwrap();
            assert_eq!(serde.now_ms, now);
        }
        // A small signed integer is a valid u64 too.
        let mut enc = rmp_serde::to_vec_named(&input(None, None)).unwrap();
        let at = enc.len() - 9; // now_ms as 0xcf + 8 bytes
        assert_eq!(enc[at], 0xcf);
        enc.truncate(at);
        enc.extend([0xd0, 5]);
        assert_eq!(parsed(&enc).unwrap().now_ms, 5);
        assert_eq!(
            rmp_serde::from_slice::<MessageInput>(&enc).unwrap().now_ms,
            5
        );
    }

    #[test]
    fn data_decodes_into_types_or_says_why_not() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Move {
            x: f64,
            y: f64,
        }
        let raw = rmp_serde::to_vec_named(&json!({"x": 1, "y": 2.5, "z": "ignored"})).unwrap();
        let data = Data::from_msgpack(&raw);
        assert_eq!(data.decode::<Move>().unwrap(), Move { x: 1.0, y: 2.5 });
        assert_eq!(data.as_msgpack(), &raw[..]);
        let raw = rmp_serde::to_vec_named(&json!({"x": "1"})).unwrap();
        let err = Data::from_msgpack(&raw).decode::<Move>().unwrap_err();
        assert!(matches!(err, Error::Data(_)), "{err}");
        assert!(Data::from_msgpack(&[0xc1]).to_value().is_err());
    }
}
