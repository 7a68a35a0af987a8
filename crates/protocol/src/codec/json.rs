//! The JSON codec: a one-pass limits scan, then the envelope with `p` kept as a
//! borrowed raw slice.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{RawFrame, RawPayload, Scalar};
use crate::error::DecodeError;
use crate::limits::Limits;

/// Checks `bytes` against `limits` without parsing: nesting depth, string
/// lengths (encoded bytes between the quotes) and entries per container.
///
/// Syntax is not checked here (the parser does that); the scan only has to be
/// right on well-formed input and harmless on the rest.
pub(crate) fn scan(bytes: &[u8], limits: &Limits) -> Result<(), String> {
    let max_depth = limits.effective_depth();
    // Commas seen in each open container, indexed by depth (1-based).
    let mut commas = [0usize; Limits::MAX_DEPTH + 1];
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                let start = i + 1;
                i = start;
                loop {
                    match bytes.get(i) {
                        None => return Ok(()), // unterminated: the parser reports it
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(_) => i += 1,
                    }
                }
                let len = i - start;
                if len > limits.max_string_bytes {
                    return Err(format!(
                        "a string is {len} bytes long; the limit is {}",
                        limits.max_string_bytes
                    ));
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(format!("the frame nests deeper than {max_depth} levels"));
                }
                if let Some(count) = commas.get_mut(depth) {
                    *count = 0;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth > 0 => {
                if let Some(count) = commas.get_mut(depth) {
                    *count += 1;
                    if *count >= limits.max_entries {
                        return Err(format!(
                            "an object or array has more than {} entries",
                            limits.max_entries
                        ));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Checks that `bytes` is UTF-8 text that starts (after whitespace) with `{`.
/// Returns the text, or a reason.
pub(crate) fn object_text(bytes: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "a JSON frame must be UTF-8; invalid byte at offset {}",
            e.valid_up_to()
        )
    })?;
    if !text.trim_start().starts_with('{') {
        return Err("a frame must be a JSON object".to_owned());
    }
    Ok(text)
}

/// The envelope of a JSON frame, other keys ignored.
#[derive(Deserialize)]
struct JsonEnvelope<'a> {
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    t: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    rid: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    room: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    p: Option<&'a RawValue>,
}

/// Splits a JSON frame into its envelope fields and raw payload.
pub(crate) fn split<'a>(bytes: &'a [u8], limits: &Limits) -> Result<RawFrame<'a>, DecodeError> {
    let text = object_text(bytes).map_err(DecodeError::bad_frame)?;
    scan(bytes, limits).map_err(DecodeError::bad_frame)?;
    let env: JsonEnvelope<'a> = serde_json::from_str(text)
        .map_err(|e| DecodeError::bad_frame(format!("invalid JSON frame: {e}")))?;
    Ok(RawFrame {
        v: env.v,
        t: env.t,
        rid: env.rid,
        room: env.room,
        p: match env.p {
            Some(raw) if raw.get() != "null" => RawPayload::Json(raw),
            _ => RawPayload::Absent,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_frame_bytes: 1 << 20,
            max_depth: 4,
            max_string_bytes: 8,
            max_entries: 3,
        }
    }

    #[test]
    fn scan_counts_depth_outside_strings() {
        assert!(scan(br#"{"a":[[{"b":1}]]}"#, &limits()).is_ok());
        assert!(scan(br#"{"a":[[[{"b":1}]]]}"#, &limits()).is_err());
        assert!(
            scan(br#"{"a":"[[[[[[[["}"#, &limits()).is_ok(),
            "brackets in strings"
        );
        assert!(scan(br#"{"a":"[[[[\""}"#, &limits()).is_ok());
    }

    #[test]
    fn scan_limits_strings_and_entries() {
        assert!(scan(br#"{"k":"12345678"}"#, &limits()).is_ok());
        assert!(scan(br#"{"k":"123456789"}"#, &limits()).is_err());
        assert!(scan(br#"[1,2,3]"#, &limits()).is_ok());
        assert!(scan(br#"[1,2,3,4]"#, &limits()).is_err());
        assert!(scan(br#"[[1,2],[1,2],[1,2]]"#, &limits()).is_ok());
        assert!(
            scan(br#"{"a":"x,y,z,w"}"#, &limits()).is_ok(),
            "commas in strings"
        );
    }

    #[test]
    fn scan_survives_garbage() {
        for junk in [&b"\"\\"[..], b"]]]]}}}", b",,,,", b"\"", b"\\\"\\"] {
            let _ = scan(junk, &limits());
        }
    }

    #[test]
    fn split_reads_the_envelope() {
        let frame = split(
            br#"{"v":1,"t":"ping","rid":"r","p":{"ts":5},"x":[1]}"#,
            &Limits::default(),
        )
        .expect("valid");
        assert!(matches!(frame.p, RawPayload::Json(raw) if raw.get() == r#"{"ts":5}"#));
        assert!(matches!(frame.t, Some(Scalar::Str(ref t)) if t == "ping"));
        let dup = split(br#"{"v":1,"t":"ping","t":"pong"}"#, &Limits::default());
        assert!(dup.is_err(), "duplicate keys are rejected");
        assert!(
            split(br#"[1,"ping"]"#, &Limits::default()).is_err(),
            "arrays are not frames"
        );
        assert!(
            split(b"{\"v\":1,\"t\":\"\xff\"}", &Limits::default()).is_err(),
            "invalid UTF-8"
        );
    }
}
