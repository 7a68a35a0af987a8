//! [`State`]: the plugin's view of the room's state document.
//!
//! The host owns the authoritative document; the plugin keeps a mirror of it. A
//! write ([`State::set`], [`State::del`]) is checked and applied to the mirror at
//! once with [`arbiter_state::apply_one`] (the function the host applies ops with),
//! so the same hook reads its own writes, and it is recorded as a [`PatchOp`] for
//! the hook's output. An op the document refuses is never recorded: the author
//! gets an [`Error::StateOp`] instead of a trap.
//!
//! Every applied op also records how to take itself back. When a hook fails the
//! SDK unwinds that log, so the mirror is again exactly the host's committed state;
//! when it succeeds the log is dropped. The happy path copies no document, only
//! the values that a write replaced.

use arbiter_state::pointer::{Pointer, PointerBuf, parse_index};
use arbiter_state::{PatchOp, apply_one};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The state document as the current hook sees it, and the writes it made.
#[derive(Debug)]
pub struct State {
    doc: Value,
    ops: Vec<PatchOp>,
    undo: Vec<Undo>,
}

/// How to revert one applied op; `undo[i]` belongs to `ops[i]`.
#[derive(Debug)]
enum Undo {
    /// `set ""`: the previous root.
    Root(Value),
    /// `set`/`del` of an object key: its previous value, `None` if it was created.
    ObjectKey(Option<Value>),
    /// `set` of an existing array element: its previous value.
    ArraySet(Value),
    /// `set …/-`: pop the appended element.
    ArrayAppend,
    /// `del` of an array element: re-insert this value at its index.
    ArrayDel(Value),
}

impl Default for State {
    fn default() -> Self {
        Self::new(Value::Object(Map::new()))
    }
}

impl State {
    /// A mirror of `doc` with no pending writes.
    pub(crate) fn new(doc: Value) -> Self {
        Self {
            doc,
            ops: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// Replaces the mirror (create, restore) and forgets pending writes.
    pub(crate) fn reset(&mut self, doc: Value) {
        self.doc = doc;
        self.ops.clear();
        self.undo.clear();
    }

    /// The whole document, including this hook's writes so far.
    pub fn root(&self) -> &Value {
        &self.doc
    }

    /// The value at `path` (an RFC 6901 pointer such as `/players/s_ab/x`), if any.
    /// A malformed pointer finds nothing.
    pub fn get(&self, path: &str) -> Option<&Value> {
        lookup(&self.doc, path)
    }

    /// Whether something (even `null`) is stored at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// The value at `path` converted to `T`: [`Error::Missing`] if there is none,
    /// [`Error::Shape`] if it does not fit `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let value = self.get(path).ok_or_else(|| Error::Missing {
            path: path.to_owned(),
        })?;
        T::deserialize(value).map_err(|source| Error::Shape {
            path: path.to_owned(),
            source,
        })
    }

    /// Creates or replaces the value at `path`; its parent must exist (`-` as the
    /// last token appends to an array). A non-finite float becomes `null`.
    pub fn set(&mut self, path: impl Into<String>, value: impl Into<Value>) -> Result {
        self.record(PatchOp::Set {
            path: path.into(),
            value: value.into(),
        })
    }

    /// [`State::set`] with any serializable value.
    pub fn set_json<T: Serialize + ?Sized>(
        &mut self,
        path: impl Into<String>,
        value: &T,
    ) -> Result {
        let value = serde_json::to_value(value)?;
        self.set(path, value)
    }

    /// Removes an object key or an array element (later elements shift down).
    pub fn del(&mut self, path: impl Into<String>) -> Result {
        self.record(PatchOp::Del { path: path.into() })
    }

    /// The writes this hook has made so far, in order.
    pub fn ops(&self) -> &[PatchOp] {
        &self.ops
    }

    fn record(&mut self, op: PatchOp) -> Result {
        let undo = match self.apply_to_object(&op) {
            Some(undo) => undo,
            None => self.apply_checked(&op)?,
        };
        self.ops.push(op);
        self.undo.push(undo);
        Ok(())
    }

    /// The common case in one walk: an op on a key of an existing object, with a
    /// plain (unescaped) last token. Does exactly what [`apply_one`] does there.
    /// `None`, with the document untouched, means "not that case": the caller
    /// then takes the general path (which also reports errors).
    fn apply_to_object(&mut self, op: &PatchOp) -> Option<Undo> {
        let path = op.path();
        let cut = path.rfind('/')?;
        let (parent, key) = (&path[..cut], &path[cut + 1..]);
        if key.contains('~') {
            return None;
        }
        let Value::Object(map) = lookup_mut(&mut self.doc, parent)? else {
            return None;
        };
        match op {
            PatchOp::Set { value, .. } => {
                let prev = match map.get_mut(key) {
                    Some(slot) => Some(std::mem::replace(slot, value.clone())),
                    None => map.insert(key.to_owned(), value.clone()),
                };
                Some(Undo::ObjectKey(prev))
            }
            PatchOp::Del { .. } => map.remove(key).map(|prev| Undo::ObjectKey(Some(prev))),
        }
    }

    /// Any op, through [`apply_one`] (the host's own function): checks it, applies
    /// it, and returns how to revert it.
    fn apply_checked(&mut self, op: &PatchOp) -> Result<Undo> {
        // `undo_for` finds nothing exactly when the op cannot apply; should the two
        // ever disagree, a copy of the document still makes the op revertible.
        let undo = self
            .undo_for(op)
            .unwrap_or_else(|| Undo::Root(self.doc.clone()));
        apply_one(&mut self.doc, op).map_err(|e| Error::StateOp {
            op: e.op,
            path: e.path,
            kind: e.kind,
        })?;
        Ok(undo)
    }

    /// How to revert `op` on the current document, or `None` if it cannot apply.
    fn undo_for(&self, op: &PatchOp) -> Option<Undo> {
        let (path, is_set) = match op {
            PatchOp::Set { path, .. } => (path, true),
            PatchOp::Del { path } => (path, false),
        };
        let pointer = Pointer::parse(path).ok()?;
        let Some((parent, last)) = pointer.split_last() else {
            return Some(Undo::Root(self.doc.clone()));
        };
        match self.get(parent.as_str())? {
            Value::Object(map) => Some(Undo::ObjectKey(map.get(last.as_ref()).cloned())),
            Value::Array(_) if is_set && last == "-" => Some(Undo::ArrayAppend),
            Value::Array(items) => {
                let prev = items.get(parse_index(&last)?)?.clone();
                Some(if is_set {
                    Undo::ArraySet(prev)
                } else {
                    Undo::ArrayDel(prev)
                })
            }
            _ => None,
        }
    }

    /// The hook succeeded: its writes are what the host commits. Returns them for
    /// the output; the caller hands the vector back with [`State::recycle`].
    pub(crate) fn take_ops(&mut self) -> Vec<PatchOp> {
        self.undo.clear();
        std::mem::take(&mut self.ops)
    }

    /// Gives back the (emptied) vector from [`State::take_ops`] to keep its capacity.
    pub(crate) fn recycle(&mut self, mut ops: Vec<PatchOp>) {
        ops.clear();
        if self.ops.is_empty() {
            self.ops = ops;
        }
    }

    /// The hook failed: reverts its writes, newest first, so the mirror is the
    /// committed state again.
    pub(crate) fn rollback(&mut self) {
        while let (Some(op), Some(undo)) = (self.ops.pop(), self.undo.pop()) {
            revert(&mut self.doc, &op, undo);
        }
        self.ops.clear();
        self.undo.clear();
    }
}

/// Takes back one op. Every later op is already reverted, so its path resolves
/// again; if it somehow did not, this does nothing rather than panic.
fn revert(doc: &mut Value, op: &PatchOp, undo: Undo) {
    let path = match op {
        PatchOp::Set { path, .. } | PatchOp::Del { path } => path,
    };
    if let Undo::Root(prev) = undo {
        *doc = prev;
        return;
    }
    let Some((parent, last)) = Pointer::parse(path).ok().and_then(|p| p.split_last()) else {
        return;
    };
    let Some(container) = resolve_mut(doc, parent) else {
        return;
    };
    match (container, undo) {
        (Value::Object(map), Undo::ObjectKey(prev)) => {
            match prev {
                Some(prev) => map.insert(last.into_owned(), prev),
                None => map.remove(last.as_ref()),
            };
        }
        (Value::Array(items), Undo::ArrayAppend) => {
            items.pop();
        }
        (Value::Array(items), Undo::ArraySet(prev)) => {
            if let Some(slot) = parse_index(&last).and_then(|i| items.get_mut(i)) {
                *slot = prev;
            }
        }
        (Value::Array(items), Undo::ArrayDel(prev)) => {
            if let Some(i) = parse_index(&last).filter(|&i| i <= items.len()) {
                items.insert(i, prev);
            }
        }
        _ => {}
    }
}

fn resolve_mut<'v>(doc: &'v mut Value, pointer: Pointer<'_>) -> Option<&'v mut Value> {
    let mut current = doc;
    for token in pointer.tokens() {
        current = match current {
            Value::Object(map) => map.get_mut(token.as_ref())?,
            Value::Array(items) => items.get_mut(parse_index(&token)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The value at `path` in `doc`: one pass over the pointer text, which is
/// validated as it is walked (a malformed pointer finds nothing, like
/// [`Pointer::parse`] failing). Tokens are unescaped only when they hold a `~`.
fn lookup<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = doc;
    let mut rest = match path {
        "" => return Some(doc),
        _ => path.strip_prefix('/')?,
    };
    let mut scratch = String::new();
    loop {
        let (raw, tail, escaped) = next_token(rest);
        let token = if escaped {
            unescape_into(raw, &mut scratch)?
        } else {
            raw
        };
        current = match current {
            Value::Object(map) => map.get(token)?,
            Value::Array(items) => items.get(parse_index(token)?)?,
            _ => return None,
        };
        match tail {
            Some(tail) => rest = tail,
            None => return Some(current),
        }
    }
}

/// [`lookup`] for writing.
fn lookup_mut<'v>(doc: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut current = doc;
    let mut rest = match path {
        "" => return Some(current),
        _ => path.strip_prefix('/')?,
    };
    let mut scratch = String::new();
    loop {
        let (raw, tail, escaped) = next_token(rest);
        let token = if escaped {
            unescape_into(raw, &mut scratch)?
        } else {
            raw
        };
        current = match current {
            Value::Object(map) => map.get_mut(token)?,
            Value::Array(items) => items.get_mut(parse_index(token)?)?,
            _ => return None,
        };
        match tail {
            Some(tail) => rest = tail,
            None => return Some(current),
        }
    }
}

/// Splits the text after a `/` into the raw token, what follows the next `/`,
/// and whether the token holds a `~` (one pass over the bytes).
fn next_token(rest: &str) -> (&str, Option<&str>, bool) {
    let mut escaped = false;
    for (at, &b) in rest.as_bytes().iter().enumerate() {
        match b {
            b'/' => return (&rest[..at], Some(&rest[at + 1..]), escaped),
            b'~' => escaped = true,
            _ => {}
        }
    }
    (rest, None, escaped)
}

/// A raw token holding `~` unescaped into `scratch` (`~1` → `/`, `~0` → `~`);
/// `None` for a `~` not followed by `0` or `1`.
fn unescape_into<'t>(raw: &str, scratch: &'t mut String) -> Option<&'t str> {
    scratch.clear();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => scratch.push('~'),
                Some('1') => scratch.push('/'),
                _ => return None,
            }
        } else {
            scratch.push(c);
        }
    }
    Some(scratch)
}

/// Appends `token` escaped (`~` → `~0`, `/` → `~1`) to pointer text, copying
/// plain runs whole.
fn push_escaped(out: &mut String, token: &str) {
    let mut rest = token;
    while let Some(at) = rest.bytes().position(|b| b == b'~' || b == b'/') {
        out.push_str(&rest[..at]);
        out.push_str(if rest.as_bytes()[at] == b'~' {
            "~0"
        } else {
            "~1"
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// One token of a [`crate::pointer!`] path: a key (escaped as needed) or an index.
pub trait PathToken {
    /// Appends this token to `path`.
    fn push_onto(&self, path: &mut PointerBuf);

    /// Appends `/` and this token, escaped, to the pointer text `path`: what
    /// [`crate::pointer!`] calls. The default goes through
    /// [`PathToken::push_onto`]; the SDK's own tokens write directly.
    fn append_to(&self, path: &mut String) {
        let mut token = PointerBuf::new();
        self.push_onto(&mut token);
        path.push_str(token.as_str());
    }
}

impl PathToken for str {
    fn push_onto(&self, path: &mut PointerBuf) {
        path.push(self);
    }

    fn append_to(&self, path: &mut String) {
        path.push('/');
        push_escaped(path, self);
    }
}

impl PathToken for String {
    fn push_onto(&self, path: &mut PointerBuf) {
        path.push(self);
    }

    fn append_to(&self, path: &mut String) {
        self.as_str().append_to(path);
    }
}

impl<T: PathToken + ?Sized> PathToken for &T {
    fn push_onto(&self, path: &mut PointerBuf) {
        (**self).push_onto(path);
    }

    fn append_to(&self, path: &mut String) {
        (**self).append_to(path);
    }
}

/// Appends `/` and the decimal digits of `n` (with `-` first when `negative`).
fn append_integer(path: &mut String, negative: bool, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is a single digit.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    path.push('/');
    if negative {
        path.push('-');
    }
    for &d in &digits[start..] {
        path.push(char::from(d));
    }
}

macro_rules! index_tokens {
    ($($t:ty),*) => {$(
        impl PathToken for $t {
            fn push_onto(&self, path: &mut PointerBuf) {
                // Token text of an integer never needs escaping.
                path.push(&self.to_string());
            }

            fn append_to(&self, path: &mut String) {
                // Every listed type fits an i128, and its magnitude a u64.
                let n = *self as i128;
                append_integer(path, n < 0, n.unsigned_abs() as u64);
            }
        }
    )*};
}
index_tokens!(u8, u16, u32, u64, usize, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(doc: Value) -> State {
        State::new(doc)
    }

    #[test]
    fn writes_are_visible_and_recorded() {
        let mut s = State::default();
        s.set("/players", json!({})).unwrap();
        s.set("/players/a~1b", json!({"x": 1})).unwrap();
        s.set("/players/a~1b/x", 3.5).unwrap();
        assert_eq!(s.get("/players/a~1b/x"), Some(&json!(3.5)));
        assert_eq!(s.get_as::<f64>("/players/a~1b/x").unwrap(), 3.5);
        assert_eq!(s.ops().len(), 3);
        assert_eq!(s.ops()[2], PatchOp::set("/players/a~1b/x", json!(3.5)));
    }

    #[test]
    fn refused_writes_are_errors_and_not_recorded() {
        let mut s = state(json!({"a": [1], "n": 1}));
        let err = s.set("/missing/x", 1).unwrap_err();
        assert!(matches!(err, Error::StateOp { op: "set", .. }), "{err}");
        assert!(s.del("/a/3").is_err());
        assert!(s.set("/n/x", 1).is_err());
        assert!(s.set("no-slash", 1).is_err());
        assert!(s.set("", json!([1])).is_err());
        assert!(s.del("").is_err());
        assert!(s.ops().is_empty());
        assert_eq!(s.root(), &json!({"a": [1], "n": 1}));
    }

    #[test]
    fn typed_reads_report_missing_and_shape() {
        let s = state(json!({"n": "text"}));
        assert!(matches!(
            s.get_as::<i64>("/nope"),
            Err(Error::Missing { .. })
        ));
        assert!(matches!(s.get_as::<i64>("/n"), Err(Error::Shape { .. })));
        assert!(s.get("/~2").is_none());
        assert!(s.contains("/n"));
    }

    #[test]
    fn rollback_restores_the_committed_document_exactly() {
        let committed = json!({"o": {"k": 1, "gone": true}, "a": [1, 2, 3], "z": null});
        let mut s = state(committed.clone());
        s.set("/o/k", 2).unwrap();
        s.set("/o/new", json!({"deep": [1]})).unwrap();
        s.set("/o/new/deep/-", 2).unwrap();
        s.del("/o/gone").unwrap();
        s.del("/a/0").unwrap();
        s.set("/a/0", "x").unwrap();
        s.set("/a/-", 9).unwrap();
        s.set("", json!({"fresh": 1})).unwrap();
        s.set("/fresh", 2).unwrap();
        assert_ne!(s.root(), &committed);
        s.rollback();
        assert_eq!(s.root(), &committed);
        assert!(s.ops().is_empty());
    }

    #[test]
    fn commit_keeps_writes_and_allows_the_next_hook() {
        let mut s = State::default();
        s.set("/a", 1).unwrap();
        let ops = s.take_ops();
        assert_eq!(ops.len(), 1);
        s.recycle(ops);
        s.set("/b", 2).unwrap();
        s.rollback();
        assert_eq!(s.root(), &json!({"a": 1}));
    }

    #[test]
    fn set_json_serializes() {
        #[derive(Serialize)]
        struct P {
            x: i32,
        }
        let mut s = State::default();
        s.set_json("/p", &P { x: 4 }).unwrap();
        assert_eq!(s.root(), &json!({"p": {"x": 4}}));
    }

    #[test]
    fn path_tokens_escape() {
        let sid = String::from("s/~1");
        let p = crate::pointer!("players", sid, 3usize, "x");
        assert_eq!(p, "/players/s~1~01/3/x");
        assert_eq!(crate::pointer!(), "");
        assert_eq!(crate::pointer!(0u8, -12i32, i64::MIN, u64::MAX), {
            let mut buf = PointerBuf::new();
            for t in ["0", "-12", &i64::MIN.to_string(), &u64::MAX.to_string()] {
                buf.push(t);
            }
            buf.into_string()
        });
        // Every token kind agrees with the PointerBuf escaping.
        for key in ["", "~", "/", "a~b/c", "~~//", "é/~0"] {
            let mut buf = PointerBuf::new();
            buf.push(key);
            assert_eq!(crate::pointer!(key), buf.as_str(), "{key:?}");
        }
        // A token type of the author's own goes through `push_onto`.
        struct Cell(u8, u8);
        impl PathToken for Cell {
            fn push_onto(&self, path: &mut PointerBuf) {
                path.push(&format!("{}/{}", self.0, self.1));
            }
        }
        assert_eq!(crate::pointer!("board", Cell(1, 2)), "/board/1~12");
    }

    #[test]
    fn reads_walk_escapes_and_refuse_malformed_pointers() {
        let s = state(json!({"a/b": {"c~d": [10, {"": 1}]}, "": {"": 2}}));
        assert_eq!(s.get("/a~1b/c~0d/0"), Some(&json!(10)));
        assert_eq!(s.get("/a~1b/c~0d/1/"), Some(&json!(1)));
        assert_eq!(s.get("//"), Some(&json!(2)));
        assert_eq!(s.get(""), Some(s.root()));
        for bad in [
            "a~1b",
            "/a~2b",
            "/a~1b/c~",
            "/a~1b/c~0d/01",
            "/a~1b/c~0d/-",
            "/x",
            "/a~1b/c~0d/0/x",
        ] {
            assert_eq!(s.get(bad), None, "{bad}");
        }
        // The same answers as serde_json's own pointer lookup.
        for path in ["/a~1b/c~0d/0", "/a~1b/c~0d/1/", "//", "/x", "/a~1b/c~0d/01"] {
            assert_eq!(s.get(path), s.root().pointer(path), "{path}");
        }
    }

    #[test]
    fn fast_and_general_writes_record_and_revert_alike() {
        let committed = json!({"o": {"k": 1, "t~": 2, "d": true}, "a": [1]});
        let mut s = state(committed.clone());
        s.set("/o/k", 5).unwrap(); // existing key, fast path
        s.set("/o/new", json!([1])).unwrap(); // new key, fast path
        s.set("/o/t~0", 3).unwrap(); // escaped key, general path
        s.del("/o/d").unwrap(); // fast path
        assert!(s.del("/o/d").is_err()); // missing key: general path reports it
        assert!(s.set("/o/k/deeper", 1).is_err());
        assert!(s.set("/o/t~2", 1).is_err());
        assert_eq!(
            s.root(),
            &json!({"o": {"k": 5, "t~": 3, "new": [1]}, "a": [1]})
        );
        assert_eq!(s.ops().len(), 4);
        s.rollback();
        assert_eq!(s.root(), &committed);
    }
}
