//! Applying patch ops to a document, all or nothing.
//!
//! [`apply`] runs the ops in order. Each op checks everything it needs before it
//! mutates, so a single op either happens or not at all. Across ops, every change
//! records how to undo itself (the replaced or removed value is *moved* into the log,
//! never cloned); when an op fails the log is unwound in reverse order and the
//! document is exactly as it was. The happy path therefore costs no copy of the
//! document, only one small vector of undo records.

use serde_json::Value;

use crate::PatchOp;
use crate::error::{ApplyError, ApplyErrorKind, type_name};
use crate::pointer::{Pointer, parse_index};

/// Applies `ops` in order. On error nothing has changed and the error names the
/// failing op (its index in `ops`) and the reason.
///
/// The root stays an object: `set ""` accepts only an object value and `del ""` is
/// refused. (A document that did not start as an object is not repaired; use
/// [`crate::StateDoc`] to carry that guarantee in the type.)
pub fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<(), ApplyError> {
    if let [op] = ops {
        // A single op is atomic by itself: no undo log needed.
        return apply_one(doc, op);
    }
    let mut log: Vec<Undo<'_>> = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        match apply_op(doc, op) {
            Ok(undo) => log.push(undo),
            Err(kind) => {
                for undo in log.into_iter().rev() {
                    undo.revert(doc);
                }
                return Err(op_error(index, op, kind));
            }
        }
    }
    Ok(())
}

/// Applies one op; on error the document is unchanged (the error's index is 0).
pub fn apply_one(doc: &mut Value, op: &PatchOp) -> Result<(), ApplyError> {
    apply_op(doc, op)
        .map(drop)
        .map_err(|kind| op_error(0, op, kind))
}

fn op_error(index: usize, op: &PatchOp, kind: ApplyErrorKind) -> ApplyError {
    ApplyError {
        index,
        op: match op {
            PatchOp::Set { .. } => "set",
            PatchOp::Del { .. } => "del",
        },
        path: op.path().to_owned(),
        kind,
    }
}

/// How to take one applied op back. Paths borrow from the op list; they are
/// re-resolved on revert, which only happens on the (rare) failure path.
#[derive(Debug)]
enum Undo<'a> {
    /// `set ""`: the previous root.
    Root(Value),
    /// `set` of an object key: its previous value, or `None` if it was created.
    ObjectSet { path: &'a str, prev: Option<Value> },
    /// `set` of an existing array element: its previous value.
    ArraySet { path: &'a str, prev: Value },
    /// `set .../-`: pop the element appended to the array holding `-`.
    ArrayAppend { path: &'a str },
    /// `del` of an object key: the removed value.
    ObjectDel { path: &'a str, prev: Value },
    /// `del` of an array element: the removed value, to re-insert at its index.
    ArrayDel { path: &'a str, prev: Value },
}

fn apply_op<'a>(doc: &mut Value, op: &'a PatchOp) -> Result<Undo<'a>, ApplyErrorKind> {
    match op {
        PatchOp::Set { path, value } => set(doc, path, value),
        PatchOp::Del { path } => del(doc, path),
    }
}

fn set<'a>(doc: &mut Value, path: &'a str, value: &Value) -> Result<Undo<'a>, ApplyErrorKind> {
    let pointer = Pointer::parse(path)?;
    let Some((parent, last)) = pointer.split_last() else {
        if !value.is_object() {
            return Err(ApplyErrorKind::RootNotObject {
                found: type_name(value),
            });
        }
        return Ok(Undo::Root(std::mem::replace(doc, value.clone())));
    };
    match resolve_mut(doc, parent)? {
        Value::Object(map) => {
            let prev = map.insert(last.into_owned(), value.clone());
            Ok(Undo::ObjectSet { path, prev })
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value.clone());
                return Ok(Undo::ArrayAppend { path });
            }
            let index = array_index(&last)?;
            let len = items.len();
            let slot = items
                .get_mut(index)
                .ok_or(ApplyErrorKind::IndexOutOfRange { index, len })?;
            let prev = std::mem::replace(slot, value.clone());
            Ok(Undo::ArraySet { path, prev })
        }
        other => Err(ApplyErrorKind::NotAContainer {
            found: type_name(other),
        }),
    }
}

fn del<'a>(doc: &mut Value, path: &'a str) -> Result<Undo<'a>, ApplyErrorKind> {
    let pointer = Pointer::parse(path)?;
    let Some((parent, last)) = pointer.split_last() else {
        return Err(ApplyErrorKind::RootDelete);
    };
    match resolve_mut(doc, parent)? {
        Value::Object(map) => {
            let prev = map.remove(last.as_ref()).ok_or(ApplyErrorKind::NotFound)?;
            Ok(Undo::ObjectDel { path, prev })
        }
        Value::Array(items) => {
            if last == "-" {
                return Err(ApplyErrorKind::AppendNotAllowed);
            }
            let index = array_index(&last)?;
            let len = items.len();
            if index >= len {
                return Err(ApplyErrorKind::IndexOutOfRange { index, len });
            }
            let prev = items.remove(index);
            Ok(Undo::ArrayDel { path, prev })
        }
        other => Err(ApplyErrorKind::NotAContainer {
            found: type_name(other),
        }),
    }
}

fn array_index(token: &str) -> Result<usize, ApplyErrorKind> {
    parse_index(token).ok_or_else(|| ApplyErrorKind::BadIndex {
        token: token.to_owned(),
    })
}

/// Walks `pointer` from the root; every token must name an existing child.
fn resolve_mut<'v>(
    doc: &'v mut Value,
    pointer: Pointer<'_>,
) -> Result<&'v mut Value, ApplyErrorKind> {
    let mut current = doc;
    for token in pointer.tokens() {
        current = match current {
            Value::Object(map) => map
                .get_mut(token.as_ref())
                .ok_or(ApplyErrorKind::ParentMissing)?,
            Value::Array(items) => {
                if token == "-" {
                    return Err(ApplyErrorKind::AppendNotAllowed);
                }
                let index = array_index(&token)?;
                items.get_mut(index).ok_or(ApplyErrorKind::ParentMissing)?
            }
            other => {
                return Err(ApplyErrorKind::NotAContainer {
                    found: type_name(other),
                });
            }
        };
    }
    Ok(current)
}

impl Undo<'_> {
    /// Takes the change back. The path resolved when the op was applied and every
    /// later op has been reverted already, so it resolves again; if it somehow did
    /// not, reverting does nothing rather than panic.
    fn revert(self, doc: &mut Value) {
        match self {
            Undo::Root(prev) => *doc = prev,
            Undo::ObjectSet { path, prev } => {
                if let Some((Value::Object(map), key)) = parent_of(doc, path) {
                    match prev {
                        Some(prev) => map.insert(key, prev),
                        None => map.remove(&key),
                    };
                }
            }
            Undo::ObjectDel { path, prev } => {
                if let Some((Value::Object(map), key)) = parent_of(doc, path) {
                    map.insert(key, prev);
                }
            }
            Undo::ArraySet { path, prev } => {
                if let Some((Value::Array(items), token)) = parent_of(doc, path)
                    && let Some(slot) = parse_index(&token).and_then(|i| items.get_mut(i))
                {
                    *slot = prev;
                }
            }
            Undo::ArrayAppend { path } => {
                if let Some((Value::Array(items), _)) = parent_of(doc, path) {
                    items.pop();
                }
            }
            Undo::ArrayDel { path, prev } => {
                if let Some((Value::Array(items), token)) = parent_of(doc, path)
                    && let Some(index) = parse_index(&token).filter(|&i| i <= items.len())
                {
                    items.insert(index, prev);
                }
            }
        }
    }
}

/// The container holding the target of `path`, and the target's last token.
fn parent_of<'v>(doc: &'v mut Value, path: &str) -> Option<(&'v mut Value, String)> {
    let (parent, last) = Pointer::parse(path).ok()?.split_last()?;
    let container = resolve_mut(doc, parent).ok()?;
    Some((container, last.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(path: &str, value: Value) -> PatchOp {
        PatchOp::Set {
            path: path.into(),
            value,
        }
    }

    fn del(path: &str) -> PatchOp {
        PatchOp::Del { path: path.into() }
    }

    fn kind_of(doc: &Value, ops: &[PatchOp]) -> (usize, ApplyErrorKind) {
        let mut work = doc.clone();
        let err = apply(&mut work, ops).unwrap_err();
        assert_eq!(&work, doc, "failed apply must leave the document unchanged");
        (err.index, err.kind)
    }

    #[test]
    fn set_and_del_objects_and_arrays() {
        let mut doc = json!({"players": {}, "list": [1, 2, 3]});
        let ops = [
            set("/players/s_ab", json!({"x": 0})),
            set("/players/s_ab/x", json!(3.5)),
            set("/list/-", json!(4)),
            set("/list/0", json!("zero")),
            del("/list/1"),
            set("/a~1b", json!(true)),
            set("/m~0n", json!(null)),
        ];
        apply(&mut doc, &ops).unwrap();
        assert_eq!(
            doc,
            json!({"players": {"s_ab": {"x": 3.5}}, "list": ["zero", 3, 4], "a/b": true, "m~n": null})
        );
    }

    #[test]
    fn root_replace_and_delete() {
        let mut doc = json!({"a": 1});
        apply(&mut doc, &[set("", json!({"b": 2}))]).unwrap();
        assert_eq!(doc, json!({"b": 2}));
        assert_eq!(
            kind_of(&doc, &[set("", json!([1]))]).1,
            ApplyErrorKind::RootNotObject { found: "array" }
        );
        assert_eq!(kind_of(&doc, &[del("")]).1, ApplyErrorKind::RootDelete);
    }

    #[test]
    fn error_kinds() {
        let doc = json!({"o": {"k": 1}, "a": [10, 20], "s": "text"});
        let cases: Vec<(PatchOp, ApplyErrorKind)> = vec![
            (set("o", json!(1)), PointerError::MissingLeadingSlash.into()),
            (
                set("/o/~x", json!(1)),
                PointerError::BadEscape { offset: 3 }.into(),
            ),
            (set("/missing/k", json!(1)), ApplyErrorKind::ParentMissing),
            (set("/a/5/k", json!(1)), ApplyErrorKind::ParentMissing),
            (set("/a/-/k", json!(1)), ApplyErrorKind::AppendNotAllowed),
            (
                set("/s/k", json!(1)),
                ApplyErrorKind::NotAContainer { found: "string" },
            ),
            (
                set("/o/k/deeper", json!(1)),
                ApplyErrorKind::NotAContainer { found: "number" },
            ),
            (
                set("/a/01", json!(1)),
                ApplyErrorKind::BadIndex { token: "01".into() },
            ),
            (
                set("/a/2", json!(1)),
                ApplyErrorKind::IndexOutOfRange { index: 2, len: 2 },
            ),
            (
                del("/a/2"),
                ApplyErrorKind::IndexOutOfRange { index: 2, len: 2 },
            ),
            (del("/a/-"), ApplyErrorKind::AppendNotAllowed),
            (del("/o/nope"), ApplyErrorKind::NotFound),
            (
                del("/s/0"),
                ApplyErrorKind::NotAContainer { found: "string" },
            ),
        ];
        for (op, expected) in cases {
            assert_eq!(
                kind_of(&doc, std::slice::from_ref(&op)).1,
                expected,
                "{op:?}"
            );
        }
    }

    use crate::error::PointerError;

    #[test]
    fn failure_rolls_back_every_earlier_op() {
        let doc = json!({"p": {"a": 1, "b": [1, 2, 3]}, "q": [0]});
        let ops = [
            set("/p/a", json!(2)),
            set("/p/new", json!({"deep": [1]})),
            del("/p/b/0"),
            set("/p/b/-", json!(9)),
            set("/p/b/0", json!("x")),
            del("/q/0"),
            set("", json!({"replaced": true})),
            set("/replaced", json!(false)),
            set("/gone/x", json!(1)),
        ];
        let (index, kind) = kind_of(&doc, &ops);
        assert_eq!(index, 8);
        assert_eq!(kind, ApplyErrorKind::ParentMissing);
    }

    #[test]
    fn error_message_names_the_op() {
        let mut doc = json!({});
        let err = apply(&mut doc, &[set("/a", json!(1)), del("/b")]).unwrap_err();
        assert_eq!(err.index, 1);
        assert_eq!(
            err.to_string(),
            r#"op 1 (del "/b") failed: no such key to delete"#
        );
    }

    #[test]
    fn empty_key_and_empty_ops() {
        let mut doc = json!({});
        apply(&mut doc, &[]).unwrap();
        apply_one(&mut doc, &set("/", json!(1))).unwrap();
        assert_eq!(doc, json!({"": 1}));
    }
}
