//! RFC 8785 (JCS) canonical JSON, the byte form that the state checksum hashes.
//!
//! - no whitespace;
//! - object members sorted by their keys compared as UTF-16 code units (this is
//!   *not* Rust's `str` order: `"\u{FB33}"` sorts after `"😀"` because the emoji's
//!   first UTF-16 unit is a surrogate, `0xD83D < 0xFB33`);
//! - every number is an IEEE 754 double printed as ECMAScript
//!   `Number.prototype.toString` does (`1e+21`, `0.000001`, `1e-7`, `-0` → `0`);
//!   integers beyond ±2^53 become the nearest double;
//! - strings escape only `"`, `\` and U+0000..U+001F (`\b \t \n \f \r` short forms,
//!   the rest as `\u00xx` lowercase), everything else is literal UTF-8.
//!
//! The writer is generic over a [`Sink`], so the checksum streams the bytes into the
//! hasher without building a string.

use std::cmp::Ordering;
use std::convert::Infallible;
use std::io;

use serde_json::{Map, Number, Value};

/// Largest magnitude up to which every integer is exactly representable as a double.
const MAX_SAFE: u64 = 1 << 53;

/// The canonical JSON text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    match emit(value, &mut out) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    // The canonical form of valid UTF-8 strings is valid UTF-8; this never allocates
    // again and never fails, but stays panic-free if it ever did.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The length in bytes of the canonical JSON of `value`, without building it.
pub fn canonical_len(value: &Value) -> usize {
    let mut counter = Counter(0);
    match emit(value, &mut counter) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    counter.0
}

/// Counts the bytes it is given.
struct Counter(usize);

impl Sink for Counter {
    type Error = Infallible;
    fn put(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.0 += bytes.len();
        Ok(())
    }
}

/// Writes the canonical JSON of `value` into `writer` (unbuffered: wrap files and
/// sockets in a `BufWriter`).
pub fn write_canonical<W: io::Write>(value: &Value, writer: &mut W) -> io::Result<()> {
    emit(value, &mut IoSink(writer))
}

/// Where canonical bytes go: a buffer, a hasher, an `io::Write`.
pub(crate) trait Sink {
    /// Error of the destination (`Infallible` for memory and hashers).
    type Error;
    /// Takes the next bytes of output.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

impl Sink for Vec<u8> {
    type Error = Infallible;
    fn put(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

struct IoSink<'w, W>(&'w mut W);

impl<W: io::Write> Sink for IoSink<'_, W> {
    type Error = io::Error;
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

/// Writes `value` canonically into `sink`.
pub(crate) fn emit<S: Sink>(value: &Value, sink: &mut S) -> Result<(), S::Error> {
    match value {
        Value::Null => sink.put(b"null"),
        Value::Bool(true) => sink.put(b"true"),
        Value::Bool(false) => sink.put(b"false"),
        Value::Number(n) => emit_number(n, sink),
        Value::String(s) => emit_string(s, sink),
        Value::Array(items) => {
            sink.put(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sink.put(b",")?;
                }
                emit(item, sink)?;
            }
            sink.put(b"]")
        }
        Value::Object(map) => emit_object(map, sink),
    }
}

fn emit_object<S: Sink>(map: &Map<String, Value>, sink: &mut S) -> Result<(), S::Error> {
    sink.put(b"{")?;
    // serde_json keeps keys in UTF-8 (code point) order, which is the UTF-16
    // order too unless a key holds a character from U+E000 up (UTF-8 lead
    // byte 0xEE or above): a byte scan settles the usual case, a pairwise
    // check the rest, and only a map out of order is sorted.
    let sorted = map.keys().all(|k| k.bytes().all(|b| b < 0xEE))
        || map
            .keys()
            .zip(map.keys().skip(1))
            .all(|(a, b)| utf16_cmp(a, b) != Ordering::Greater);
    if sorted {
        emit_members(map.iter(), sink)?;
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
        emit_members(members.into_iter(), sink)?;
    }
    sink.put(b"}")
}

fn emit_members<'v, S: Sink>(
    members: impl Iterator<Item = (&'v String, &'v Value)>,
    sink: &mut S,
) -> Result<(), S::Error> {
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            sink.put(b",")?;
        }
        emit_string(key, sink)?;
        sink.put(b":")?;
        emit(value, sink)?;
    }
    Ok(())
}

/// Compares two strings by their UTF-16 code units, as JCS (and JavaScript) sort keys.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let Some(diff) = ab.iter().zip(bb).position(|(x, y)| x != y) else {
        return ab.len().cmp(&bb.len());
    };
    // Back up to the start of the character that differs (same in both strings,
    // since everything before `diff` is equal).
    let start = (0..=diff)
        .rev()
        .find(|&i| a.is_char_boundary(i))
        .unwrap_or(0);
    let (Some(ca), Some(cb)) = (a[start..].chars().next(), b[start..].chars().next()) else {
        return ab.len().cmp(&bb.len());
    };
    first_utf16_unit(ca)
        .cmp(&first_utf16_unit(cb))
        .then_with(|| ca.cmp(&cb))
}

/// The first UTF-16 code unit of `c` (its high surrogate when outside the BMP).
/// Two characters with the same first unit are both astral, and for those the code
/// point order equals the UTF-16 order.
fn first_utf16_unit(c: char) -> u32 {
    let cp = u32::from(c);
    if cp >= 0x1_0000 {
        0xD800 + ((cp - 0x1_0000) >> 10)
    } else {
        cp
    }
}

fn emit_number<S: Sink>(n: &Number, sink: &mut S) -> Result<(), S::Error> {
    if let Some(u) = n.as_u64()
        && u <= MAX_SAFE
    {
        return emit_integer(false, u, sink);
    }
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= MAX_SAFE
    {
        return emit_integer(i < 0, i.unsigned_abs(), sink);
    }
    // Everything else is printed as the double it denotes (`as` rounds to nearest,
    // ties to even, exactly like JavaScript's parse of the same digits).
    let f = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u as f64,
        (None, Some(i)) => i as f64,
        (None, None) => n.as_f64().unwrap_or(f64::NAN),
    };
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64 {
        // Integral doubles print as plain digits (and -0 as 0): skip the float printer.
        return emit_integer(f < 0.0, f.abs() as u64, sink);
    }
    if !f.is_finite() {
        // Unreachable with serde_json's Value (it has no NaN or infinity); JCS has no
        // form for them, so write what serde_json writes.
        return sink.put(b"null");
    }
    let mut buf = ryu_js::Buffer::new();
    sink.put(buf.format_finite(f).as_bytes())
}

/// An exactly representable integer: plain decimal digits, as ECMAScript prints it.
fn emit_integer<S: Sink>(negative: bool, magnitude: u64, sink: &mut S) -> Result<(), S::Error> {
    let mut buf = [0u8; 21];
    let mut at = buf.len();
    let mut rest = magnitude;
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    sink.put(&buf[at..])
}

fn emit_string<S: Sink>(s: &str, sink: &mut S) -> Result<(), S::Error> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    sink.put(b"\"")?;
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => &[],
            _ => continue,
        };
        sink.put(&bytes[run..i])?;
        if short.is_empty() {
            sink.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ])?;
        } else {
            sink.put(short)?;
        }
        run = i + 1;
    }
    sink.put(&bytes[run..])?;
    sink.put(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utf16_order_differs_from_utf8_order() {
        let emoji = "\u{1F600}";
        let hebrew = "\u{FB33}";
        assert_eq!(emoji.cmp(hebrew), Ordering::Greater, "UTF-8 order");
        assert_eq!(utf16_cmp(emoji, hebrew), Ordering::Less, "UTF-16 order");
        assert_eq!(utf16_cmp("a", "ab"), Ordering::Less);
        assert_eq!(utf16_cmp("ab", "ab"), Ordering::Equal);
        assert_eq!(utf16_cmp("x\u{E000}", "x\u{10000}"), Ordering::Greater);
        assert_eq!(utf16_cmp("\u{10000}", "\u{10FFFF}"), Ordering::Less);
        assert_eq!(utf16_cmp("\u{D7FF}", "\u{10000}"), Ordering::Less);
        // Same lead byte, differing continuation byte: é (C3 A9) vs ö (C3 B6).
        assert_eq!(utf16_cmp("\u{e9}", "\u{f6}"), Ordering::Less);
    }

    #[test]
    fn unsorted_keys_are_sorted() {
        let doc = json!({"\u{FB33}": 1, "\u{1F600}": 2, "a": 3});
        assert_eq!(
            canonical_json(&doc),
            "{\"a\":3,\"\u{1F600}\":2,\"\u{FB33}\":1}"
        );
    }

    #[test]
    fn numbers() {
        let doc = json!([
            0,
            -0.0,
            1.0,
            -7,
            1e21,
            1e20,
            1e-7,
            0.000001,
            u64::MAX,
            i64::MIN,
            9007199254740993u64
        ]);
        assert_eq!(
            canonical_json(&doc),
            "[0,0,1,-7,1e+21,100000000000000000000,1e-7,0.000001,18446744073709552000,-9223372036854776000,9007199254740992]"
        );
        assert_eq!(
            canonical_json(&json!([9007199254740992u64, -9007199254740992i64])),
            "[9007199254740992,-9007199254740992]"
        );
    }

    #[test]
    fn integral_doubles() {
        let doc = json!([
            -3.0,
            9007199254740992.0,
            9007199254740994.0,
            -9007199254740994.0,
            4503599627370496.5
        ]);
        assert_eq!(
            canonical_json(&doc),
            "[-3,9007199254740992,9007199254740994,-9007199254740994,4503599627370496]"
        );
    }

    #[test]
    fn strings() {
        let doc = json!("\"\\\u{0}\u{1f}\u{7f}\n\t\r\u{8}\u{c}/\u{e9}\u{2028}");
        assert_eq!(
            canonical_json(&doc),
            "\"\\\"\\\\\\u0000\\u001f\u{7f}\\n\\t\\r\\b\\f/\u{e9}\u{2028}\""
        );
    }

    #[test]
    fn writer_variant_matches() {
        let doc = json!({"b": [1, "x"], "a": null});
        let mut out = Vec::new();
        write_canonical(&doc, &mut out).unwrap();
        assert_eq!(out, canonical_json(&doc).into_bytes());
    }
}
