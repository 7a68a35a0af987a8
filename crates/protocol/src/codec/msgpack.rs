//! The MessagePack codec: a structural walk that checks every length against
//! the bytes left and the limits, and splits the envelope on the way.
//!
//! The walk accepts exactly the MessagePack that maps onto JSON: nil, booleans,
//! integers, finite floats, UTF-8 strings, arrays, and maps with string keys.
//! `bin` and `ext` are refused (binary payloads travel as base64 in
//! `room.message.bytes`), and so is a top-level value that is not a map.

use std::borrow::Cow;

use crate::envelope::{RawFrame, RawPayload, Scalar, read_rid};
use crate::error::DecodeError;
use crate::limits::Limits;

/// One decoded MessagePack header (strings include their bytes).
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    Array(usize),
    Map(usize),
}

impl<'a> Item<'a> {
    fn scalar(self) -> Scalar<'a> {
        match self {
            Item::Nil => Scalar::Null,
            Item::Bool(b) => Scalar::Bool(b),
            Item::Int(n) => Scalar::Int(n),
            Item::UInt(n) => Scalar::UInt(n),
            Item::Float(x) => Scalar::Float(x),
            Item::Str(s) => Scalar::Str(Cow::Borrowed(s)),
            Item::Array(_) => Scalar::Array,
            Item::Map(_) => Scalar::Object,
        }
    }
}

/// What is wrong with a frame. Small and `Copy`, so that the walk stays cheap;
/// the sentence is only built when a frame is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Truncated { needed: usize },
    StringTooLong { len: usize },
    InvalidUtf8 { valid_up_to: usize },
    NonFiniteFloat,
    Bin,
    Ext,
    Reserved,
    TooDeep,
    TooManyEntries { entries: usize },
    ContainerPastEnd { entries: usize },
    KeyNotString,
    NotAMap,
    Trailing,
    DuplicateKey(&'static str),
}

/// A [`Problem`] at a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScanError {
    problem: Problem,
    at: usize,
}

impl ScanError {
    fn describe(self, len: usize, limits: &Limits) -> String {
        let at = self.at;
        match self.problem {
            Problem::Truncated { needed } => format!(
                "truncated MessagePack: {needed} more bytes needed at offset {at}, {} left",
                len.saturating_sub(at)
            ),
            Problem::StringTooLong { len } => format!(
                "the string at offset {at} is {len} bytes long; the limit is {}",
                limits.max_string_bytes
            ),
            Problem::InvalidUtf8 { valid_up_to } => format!(
                "the string at offset {at} is not valid UTF-8 (invalid byte at +{valid_up_to})"
            ),
            Problem::NonFiniteFloat => {
                format!("non-finite float at offset {at}: JSON has no NaN or infinity")
            }
            Problem::Bin => format!(
                "MessagePack bin at offset {at}: protocol v1 carries binary as base64 \
                 (room.message.bytes data_b64)"
            ),
            Problem::Ext => format!("MessagePack ext at offset {at}: not used by protocol v1"),
            Problem::Reserved => format!("byte 0xc1 at offset {at} is never used in MessagePack"),
            Problem::TooDeep => format!(
                "the frame nests deeper than {} levels (offset {at})",
                limits.effective_depth()
            ),
            Problem::TooManyEntries { entries } => format!(
                "a map or array at offset {at} has {entries} entries; the limit is {}",
                limits.max_entries
            ),
            Problem::ContainerPastEnd { entries } => format!(
                "truncated MessagePack: a container of {entries} entries at offset {at} \
                 runs past the end of the frame"
            ),
            Problem::KeyNotString => format!("map key at offset {at} is not a string"),
            Problem::NotAMap => "a frame must be a MessagePack map".to_owned(),
            Problem::Trailing => format!(
                "{} trailing bytes after the frame (offset {at})",
                len.saturating_sub(at)
            ),
            Problem::DuplicateKey(key) => format!("duplicate key `{key}` (offset {at})"),
        }
    }
}

type Scan<T> = Result<T, ScanError>;

/// A cursor over a frame that validates as it goes.
struct Reader<'a, 'l> {
    buf: &'a [u8],
    pos: usize,
    limits: &'l Limits,
    max_depth: usize,
}

impl<'a, 'l> Reader<'a, 'l> {
    fn new(buf: &'a [u8], limits: &'l Limits) -> Reader<'a, 'l> {
        Reader {
            buf,
            pos: 0,
            limits,
            max_depth: limits.effective_depth(),
        }
    }

    fn fail<T>(&self, problem: Problem, at: usize) -> Scan<T> {
        Err(ScanError { problem, at })
    }

    #[inline]
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Scan<&'a [u8]> {
        if n > self.left() {
            return self.fail(Problem::Truncated { needed: n }, self.pos);
        }
        let start = self.pos;
        self.pos += n;
        match self.buf.get(start..self.pos) {
            Some(slice) => Ok(slice),
            None => self.fail(Problem::Truncated { needed: n }, start),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Scan<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    #[inline]
    fn u8(&mut self) -> Scan<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.fail(Problem::Truncated { needed: 1 }, self.pos),
        }
    }

    #[inline]
    fn string(&mut self, len: usize) -> Scan<Item<'a>> {
        let at = self.pos;
        if len > self.limits.max_string_bytes {
            return self.fail(Problem::StringTooLong { len }, at);
        }
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Item::Str(s)),
            Err(e) => self.fail(
                Problem::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
                at,
            ),
        }
    }

    #[inline]
    fn float(&self, x: f64, at: usize) -> Scan<Item<'a>> {
        if x.is_finite() {
            Ok(Item::Float(x))
        } else {
            self.fail(Problem::NonFiniteFloat, at)
        }
    }

    /// Reads one header (and a string's bytes).
    #[inline]
    fn item(&mut self) -> Scan<Item<'a>> {
        let at = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => Item::UInt(u64::from(marker)),
            0x80..=0x8f => Item::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Item::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f))?,
            0xc0 => Item::Nil,
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4..=0xc6 => return self.fail(Problem::Bin, at),
            0xc7..=0xc9 | 0xd4..=0xd8 => return self.fail(Problem::Ext, at),
            0xca => {
                let x = f64::from(f32::from_be_bytes(self.array()?));
                self.float(x, at)?
            }
            0xcb => {
                let x = f64::from_be_bytes(self.array()?);
                self.float(x, at)?
            }
            0xcc => Item::UInt(u64::from(self.u8()?)),
            0xcd => Item::UInt(u64::from(u16::from_be_bytes(self.array()?))),
            0xce => Item::UInt(u64::from(u32::from_be_bytes(self.array()?))),
            0xcf => Item::UInt(u64::from_be_bytes(self.array()?)),
            0xd0 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Item::Int(i64::from_be_bytes(self.array()?)),
            0xd9 => {
                let len = usize::from(self.u8()?);
                self.string(len)?
            }
            0xda => {
                let len = usize::from(u16::from_be_bytes(self.array()?));
                self.string(len)?
            }
            0xdb => {
                let len = u32::from_be_bytes(self.array()?) as usize;
                self.string(len)?
            }
            0xdc => Item::Array(usize::from(u16::from_be_bytes(self.array()?))),
            0xdd => Item::Array(u32::from_be_bytes(self.array()?) as usize),
            0xde => Item::Map(usize::from(u16::from_be_bytes(self.array()?))),
            0xdf => Item::Map(u32::from_be_bytes(self.array()?) as usize),
            0xe0..=0xff => Item::Int(i64::from(marker as i8)),
            0xc1 => return self.fail(Problem::Reserved, at),
        })
    }

    /// Checks a container's entry count against the limits and the bytes left
    /// (every entry takes at least one byte per value).
    #[inline]
    fn check_container(
        &self,
        entries: usize,
        per_entry: usize,
        depth: usize,
        at: usize,
    ) -> Scan<()> {
        if depth > self.max_depth {
            return self.fail(Problem::TooDeep, at);
        }
        if entries > self.limits.max_entries {
            return self.fail(Problem::TooManyEntries { entries }, at);
        }
        if entries.saturating_mul(per_entry) > self.left() {
            return self.fail(Problem::ContainerPastEnd { entries }, at);
        }
        Ok(())
    }

    /// Reads a map key, which must be a string.
    #[inline]
    fn key(&mut self) -> Scan<&'a str> {
        let at = self.pos;
        match self.item()? {
            Item::Str(key) => Ok(key),
            _ => self.fail(Problem::KeyNotString, at),
        }
    }

    /// Skips the rest of `item`, which started at `at` and sits at nesting
    /// `depth` (the envelope map is depth 1), checking everything inside.
    fn skip(&mut self, item: Item<'a>, depth: usize, at: usize) -> Scan<()> {
        match item {
            Item::Array(n) => {
                self.check_container(n, 1, depth, at)?;
                for _ in 0..n {
                    let child_at = self.pos;
                    let child = self.item()?;
                    self.skip(child, depth + 1, child_at)?;
                }
            }
            Item::Map(n) => {
                self.check_container(n, 2, depth, at)?;
                for _ in 0..n {
                    self.key()?;
                    let child_at = self.pos;
                    let child = self.item()?;
                    self.skip(child, depth + 1, child_at)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks `bytes` as one MessagePack value within `limits`, with nothing after it.
#[cfg(test)]
fn scan(bytes: &[u8], limits: &Limits) -> Result<(), String> {
    let mut reader = Reader::new(bytes, limits);
    let result = reader.item().and_then(|item| {
        reader.skip(item, 1, 0)?;
        if reader.pos != bytes.len() {
            return reader.fail(Problem::Trailing, reader.pos);
        }
        Ok(())
    });
    result.map_err(|e| e.describe(bytes.len(), limits))
}

/// Splits a MessagePack frame into its envelope fields and raw payload,
/// validating the whole frame on the way.
pub(crate) fn split<'a>(bytes: &'a [u8], limits: &Limits) -> Result<RawFrame<'a>, DecodeError> {
    let mut frame = RawFrame {
        v: None,
        t: None,
        rid: None,
        room: None,
        p: RawPayload::Absent,
    };
    match split_into(&mut frame, bytes, limits) {
        Ok(()) => Ok(frame),
        Err(e) => {
            let rid = read_rid(frame.rid.take()).ok().flatten();
            Err(DecodeError::bad_frame(e.describe(bytes.len(), limits)).with_rid(rid))
        }
    }
}

fn split_into<'a>(frame: &mut RawFrame<'a>, bytes: &'a [u8], limits: &Limits) -> Scan<()> {
    let mut reader = Reader::new(bytes, limits);
    let Item::Map(entries) = reader.item()? else {
        return reader.fail(Problem::NotAMap, 0);
    };
    reader.check_container(entries, 2, 1, 0)?;
    let mut seen_p = false;
    for _ in 0..entries {
        let key_at = reader.pos;
        let key = reader.key()?;
        let start = reader.pos;
        let value = reader.item()?;
        let (slot, name) = match key {
            "v" => (&mut frame.v, "v"),
            "t" => (&mut frame.t, "t"),
            "rid" => (&mut frame.rid, "rid"),
            "room" => (&mut frame.room, "room"),
            "p" => {
                if std::mem::replace(&mut seen_p, true) {
                    return reader.fail(Problem::DuplicateKey("p"), key_at);
                }
                reader.skip(value, 2, start)?;
                if !matches!(value, Item::Nil) {
                    let raw = bytes.get(start..reader.pos).unwrap_or_default();
                    frame.p = RawPayload::MsgPack(raw);
                }
                continue;
            }
            _ => {
                reader.skip(value, 2, start)?;
                continue;
            }
        };
        if slot.is_some() {
            return reader.fail(Problem::DuplicateKey(name), key_at);
        }
        reader.skip(value, 2, start)?;
        *slot = Some(value.scalar());
    }
    if reader.pos != bytes.len() {
        return reader.fail(Problem::Trailing, reader.pos);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            max_frame_bytes: 1 << 20,
            max_depth: 3,
            max_string_bytes: 4,
            max_entries: 3,
        }
    }

    #[test]
    fn scan_accepts_json_shaped_values() {
        // {"a": [1, -1, 1.5, nil, true]}
        let ok = [
            0x81, 0xa1, b'a', 0x95, 0x01, 0xff, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0xc3,
        ];
        let limits = Limits::default();
        assert_eq!(scan(&ok, &limits), Ok(()));
    }

    #[test]
    fn scan_rejects_what_json_cannot_hold() {
        let limits = Limits::default();
        let cases: &[(&[u8], &str)] = &[
            (&[0xc4, 0x01, 0x00], "bin"),
            (&[0xd4, 0x01, 0x00], "ext"),
            (&[0xc1], "0xc1"),
            (&[0x81, 0x01, 0x01], "not a string"),
            (&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], "non-finite"),
            (&[0xa2, 0xff, 0xfe], "UTF-8"),
            (&[0xdd, 0xff, 0xff, 0xff, 0xff], "entries"),
            (&[0x92, 0x01], "truncated"),
            (&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], "bytes long"),
            (&[0x01, 0x02], "trailing"),
        ];
        for (bytes, expect) in cases {
            let err = scan(bytes, &limits).expect_err(expect);
            assert!(err.contains(expect), "{expect}: {err}");
        }
    }

    #[test]
    fn scan_applies_the_limits() {
        let limits = small();
        assert!(scan(&[0x91, 0x91, 0x91, 0x01], &limits).is_ok());
        assert!(scan(&[0x91, 0x91, 0x91, 0x91, 0x01], &limits).is_err());
        assert!(scan(&[0xa4, b'a', b'b', b'c', b'd'], &limits).is_ok());
        assert!(scan(&[0xa5, b'a', b'b', b'c', b'd', b'e'], &limits).is_err());
        assert!(scan(&[0x94, 1, 2, 3, 4], &limits).is_err());
    }

    #[test]
    fn split_finds_the_envelope_and_keeps_the_rid_on_errors() {
        // {"rid": "r", "v": 1, "t": "ping", "p": {}}
        let ok = [
            0x84, 0xa3, b'r', b'i', b'd', 0xa1, b'r', 0xa1, b'v', 0x01, 0xa1, b't', 0xa4, b'p',
            b'i', b'n', b'g', 0xa1, b'p', 0x80,
        ];
        let frame = split(&ok, &Limits::default()).expect("valid");
        assert!(matches!(frame.p, RawPayload::MsgPack(&[0x80])));
        assert!(matches!(frame.v, Some(Scalar::UInt(1))));
        let truncated = &ok[..ok.len() - 1];
        let err = split(truncated, &Limits::default()).expect_err("truncated");
        assert_eq!(err.rid, Some(crate::Rid::from("r")));
        let mut dup = ok;
        dup[7] = 0xa1;
        dup[8] = b't'; // second key "t" (value 1) followed by another "t"
        assert!(split(&dup, &Limits::default()).is_err());
    }
}
