//! RFC 6901 JSON Pointers: validate, split into tokens, escape, build.
//!
//! A pointer is `""` (the whole document) or a sequence of `/token`. Inside a token
//! `~1` stands for `/` and `~0` for `~`; any other `~` is an error. Parsing borrows:
//! tokens without escapes are returned as slices of the input, so walking a path
//! allocates nothing in the common case.
//!
//! ```
//! use arbiter_state::pointer::{Pointer, PointerBuf};
//!
//! let mut path = PointerBuf::new();
//! path.push("players");
//! path.push("a/b~c");
//! assert_eq!(path.as_str(), "/players/a~1b~0c");
//!
//! let parsed = Pointer::parse(path.as_str()).unwrap();
//! let tokens: Vec<_> = parsed.tokens().collect();
//! assert_eq!(tokens, ["players", "a/b~c"]);
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::error::PointerError;

/// A validated JSON Pointer borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pointer<'a> {
    raw: &'a str,
}

impl<'a> Pointer<'a> {
    /// The pointer to the whole document (`""`).
    pub const ROOT: Pointer<'static> = Pointer { raw: "" };

    /// Validates `raw`: empty, or starting with `/` with every `~` followed by `0` or `1`.
    pub fn parse(raw: &'a str) -> Result<Self, PointerError> {
        if raw.is_empty() {
            return Ok(Pointer { raw });
        }
        if !raw.starts_with('/') {
            return Err(PointerError::MissingLeadingSlash);
        }
        let bytes = raw.as_bytes();
        let mut i = 0;
        while let Some(pos) = bytes[i..].iter().position(|&b| b == b'~') {
            let at = i + pos;
            match bytes.get(at + 1) {
                Some(b'0' | b'1') => i = at + 2,
                _ => return Err(PointerError::BadEscape { offset: at }),
            }
        }
        Ok(Pointer { raw })
    }

    /// The pointer text, as given.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether this is the root pointer `""`.
    pub fn is_root(&self) -> bool {
        self.raw.is_empty()
    }

    /// The unescaped reference tokens, first to last (none for the root).
    pub fn tokens(&self) -> Tokens<'a> {
        Tokens {
            rest: self.raw.strip_prefix('/'),
        }
    }

    /// Splits off the last token: `(parent, last)`, or `None` for the root.
    pub fn split_last(&self) -> Option<(Pointer<'a>, Cow<'a, str>)> {
        let cut = self.raw.rfind('/')?;
        let parent = Pointer {
            raw: &self.raw[..cut],
        };
        Some((parent, unescape(&self.raw[cut + 1..])))
    }
}

impl fmt::Display for Pointer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Iterator over the unescaped tokens of a [`Pointer`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    /// What follows the leading `/`; `None` once exhausted (or for the root).
    rest: Option<&'a str>,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        match rest.split_once('/') {
            Some((token, tail)) => {
                self.rest = Some(tail);
                Some(unescape(token))
            }
            None => {
                self.rest = None;
                Some(unescape(rest))
            }
        }
    }
}

/// Unescapes one token of an already validated pointer (`~1` → `/`, `~0` → `~`).
fn unescape(token: &str) -> Cow<'_, str> {
    if !token.contains('~') {
        return Cow::Borrowed(token);
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            // Validation guarantees a following '0' or '1'.
            out.push(if chars.next() == Some('1') { '/' } else { '~' });
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes one token for use in a pointer (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if !token.contains(['~', '/']) {
        return Cow::Borrowed(token);
    }
    let mut out = String::with_capacity(token.len() + 2);
    push_escaped(&mut out, token);
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Parses an array index token: ASCII digits, no leading zero (except `"0"`),
/// no sign, and small enough for `usize`. `-` and anything else give `None`.
pub fn parse_index(token: &str) -> Option<usize> {
    let bytes = token.as_bytes();
    match bytes {
        [] => None,
        [b'0'] => Some(0),
        [b'0', ..] => None,
        _ => bytes.iter().try_fold(0usize, |acc, &b| {
            if b.is_ascii_digit() {
                acc.checked_mul(10)?.checked_add(usize::from(b - b'0'))
            } else {
                None
            }
        }),
    }
}

/// An owned JSON Pointer built token by token, always valid.
///
/// Use it to build op paths from keys that may contain `/` or `~`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PointerBuf {
    raw: String,
}

impl PointerBuf {
    /// The root pointer `""`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an object key or any raw token (escaped here).
    pub fn push(&mut self, token: &str) -> &mut Self {
        self.raw.push('/');
        push_escaped(&mut self.raw, token);
        self
    }

    /// Appends an array index.
    pub fn push_index(&mut self, index: usize) -> &mut Self {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = write!(self.raw, "/{index}");
        self
    }

    /// Removes the last token; returns `false` if this was already the root.
    pub fn pop(&mut self) -> bool {
        match self.raw.rfind('/') {
            Some(cut) => {
                self.raw.truncate(cut);
                true
            }
            None => false,
        }
    }

    /// Borrows as a validated [`Pointer`].
    pub fn as_pointer(&self) -> Pointer<'_> {
        Pointer { raw: &self.raw }
    }

    /// The pointer text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Converts into the pointer text (as a [`crate::PatchOp`] path).
    pub fn into_string(self) -> String {
        self.raw
    }

    /// Length of the text, for [`Self::truncate`] (used by diff to backtrack cheaply).
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// Cuts back to a length previously returned by [`Self::len`].
    pub(crate) fn truncate(&mut self, len: usize) {
        self.raw.truncate(len);
    }
}

impl fmt::Display for PointerBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl<S: AsRef<str>> FromIterator<S> for PointerBuf {
    fn from_iter<I: IntoIterator<Item = S>>(tokens: I) -> Self {
        let mut buf = PointerBuf::new();
        for token in tokens {
            buf.push(token.as_ref());
        }
        buf
    }
}

impl From<PointerBuf> for String {
    fn from(buf: PointerBuf) -> String {
        buf.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(raw: &str) -> Vec<String> {
        Pointer::parse(raw)
            .unwrap()
            .tokens()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn rfc6901_examples() {
        assert!(tokens("").is_empty());
        assert_eq!(tokens("/"), [""]);
        assert_eq!(tokens("/foo/0"), ["foo", "0"]);
        assert_eq!(tokens("/a~1b"), ["a/b"]);
        assert_eq!(tokens("/m~0n"), ["m~n"]);
        assert_eq!(tokens("/ "), [" "]);
        assert_eq!(tokens("//"), ["", ""]);
    }

    #[test]
    fn unescape_order_is_one_pass() {
        // "~01" is "~" followed by "1", never "/".
        assert_eq!(tokens("/~01"), ["~1"]);
        assert_eq!(tokens("/~10"), ["/0"]);
    }

    #[test]
    fn rejects_bad_pointers() {
        assert_eq!(
            Pointer::parse("a/b"),
            Err(PointerError::MissingLeadingSlash)
        );
        assert_eq!(
            Pointer::parse("/a~"),
            Err(PointerError::BadEscape { offset: 2 })
        );
        assert_eq!(
            Pointer::parse("/~2"),
            Err(PointerError::BadEscape { offset: 1 })
        );
        assert_eq!(
            Pointer::parse("/ok~0/x~"),
            Err(PointerError::BadEscape { offset: 7 })
        );
    }

    #[test]
    fn split_last_gives_parent_and_token() {
        let p = Pointer::parse("/a/b~1c").unwrap();
        let (parent, last) = p.split_last().unwrap();
        assert_eq!(parent.as_str(), "/a");
        assert_eq!(last, "b/c");
        let (parent, last) = parent.split_last().unwrap();
        assert!(parent.is_root());
        assert_eq!(last, "a");
        assert!(Pointer::ROOT.split_last().is_none());
    }

    #[test]
    fn escape_and_build() {
        assert_eq!(escape_token("plain"), "plain");
        assert!(matches!(escape_token("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        let buf: PointerBuf = ["x", "~/"].into_iter().collect();
        assert_eq!(buf.as_str(), "/x/~0~1");
        let mut buf = PointerBuf::new();
        buf.push("list").push_index(12);
        assert_eq!(buf.to_string(), "/list/12");
        assert!(buf.pop());
        assert!(buf.pop());
        assert!(!buf.pop());
        assert_eq!(buf.as_str(), "");
    }

    #[test]
    fn index_parsing_is_strict() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("10"), Some(10));
        assert_eq!(parse_index("007"), None);
        assert_eq!(parse_index(""), None);
        assert_eq!(parse_index("-"), None);
        assert_eq!(parse_index("-1"), None);
        assert_eq!(parse_index("+1"), None);
        assert_eq!(parse_index("1e3"), None);
        assert_eq!(parse_index("١"), None);
        assert_eq!(parse_index("99999999999999999999999"), None);
        assert_eq!(parse_index(&usize::MAX.to_string()), Some(usize::MAX));
    }
}
