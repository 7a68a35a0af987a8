//! Session ids, resume tokens and their comparison.
//!
//! Both come straight from the operating system's randomness: a resume token is
//! the only thing that lets a connection take over a session, so it must not be
//! guessable, and it is compared in constant time.

use arbiter_protocol::SessionId;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::OsRng;
use rand::{RngCore as _, TryRngCore as _};
use subtle::ConstantTimeEq as _;

/// Random characters after the `s_` prefix of a session id (base62: ~119 bits).
pub const SESSION_ID_RANDOM_CHARS: usize = 20;

/// Random bytes in a resume token (256 bits).
pub const RESUME_TOKEN_BYTES: usize = 32;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `buf` from the OS. Should the OS source fail (it practically never
/// does), falls back to the thread-local CSPRNG, itself seeded by the OS.
fn fill_random(buf: &mut [u8]) {
    if let Err(err) = OsRng.try_fill_bytes(buf) {
        tracing::warn!(%err, "OS randomness unavailable; using the thread CSPRNG");
        rand::rng().fill_bytes(buf);
    }
}

/// A new session id: `s_` followed by 20 random base62 characters, e.g.
/// `s_4fZq0RkT8mWb1xYc9LpA`. Unique in practice; not a secret.
pub fn new_session_id() -> SessionId {
    let mut id = String::with_capacity(2 + SESSION_ID_RANDOM_CHARS);
    id.push_str("s_");
    let mut buf = [0u8; 32];
    while id.len() < 2 + SESSION_ID_RANDOM_CHARS {
        fill_random(&mut buf);
        // Rejection sampling keeps every character equally likely:
        // 248 = 4 × 62, so bytes 248..=255 are skipped.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if id.len() == 2 + SESSION_ID_RANDOM_CHARS {
                break;
            }
            id.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    match SessionId::new(id) {
        Ok(id) => id,
        // Unreachable: `s_` + base62 always fits the id rule.
        Err(err) => unreachable!("generated session id is invalid: {err}"),
    }
}

/// A new resume token: 32 bytes of OS randomness as URL-safe base64 without
/// padding (43 characters of `[A-Za-z0-9_-]`).
pub fn new_resume_token() -> String {
    let mut bytes = [0u8; RESUME_TOKEN_BYTES];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two tokens are equal, in time that depends only on their lengths
/// (never on where they differ), so that a client cannot guess a resume token
/// byte by byte.
pub fn tokens_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn session_ids_have_the_documented_shape() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let id = new_session_id();
            let s = id.as_str();
            assert_eq!(s.len(), 22, "{s}");
            assert!(s.starts_with("s_"), "{s}");
            assert!(s[2..].bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
            assert!(seen.insert(id), "duplicate session id");
        }
    }

    #[test]
    fn resume_tokens_are_long_url_safe_and_distinct() {
        let a = new_resume_token();
        let b = new_resume_token();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{a}"
        );
        assert_ne!(a, b);
        let decoded = URL_SAFE_NO_PAD.decode(&a).expect("base64");
        assert_eq!(decoded.len(), RESUME_TOKEN_BYTES);
    }

    #[test]
    fn tokens_match_compares_exactly() {
        let t = new_resume_token();
        assert!(tokens_match(&t, &t.clone()));
        assert!(!tokens_match(&t, &new_resume_token()));
        assert!(!tokens_match(&t, &t[..42]));
        assert!(!tokens_match(&t, ""));
        assert!(tokens_match("", ""));
    }
}
