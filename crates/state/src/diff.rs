//! The smallest-by-construction list of ops that turns one document into another.
//!
//! Rules, so that a patch names only what changed:
//! - objects: recurse into keys present on both sides, `del` keys only in `a`,
//!   `set` keys only in `b`;
//! - arrays: recurse index by index over the common prefix, then `set .../-` for
//!   each extra element of `b` (in order) or `del` the extra elements of `a` from
//!   the highest index down;
//! - anything else that differs (a scalar change or a change of type): one `set`.
//!
//! Arrays are compared by position, not aligned: inserting at the front of a list
//! rewrites every element after it. Rooms that reorder long lists should keep them
//! as objects keyed by id.

use serde_json::Value;

use crate::PatchOp;
use crate::pointer::PointerBuf;

/// The ops that turn `a` into `b`: `apply(&mut a, &diff(&a, &b))` makes `a == b`.
///
/// Empty when `a == b`. Both roots should be objects: if `b`'s root is not, the
/// result is a single `set ""` that [`crate::apply`] refuses.
pub fn diff(a: &Value, b: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    diff_into(a, b, &mut ops);
    ops
}

/// Like [`diff`], appending to `ops` (to reuse one buffer tick after tick).
pub fn diff_into(a: &Value, b: &Value, ops: &mut Vec<PatchOp>) {
    let mut path = PointerBuf::new();
    walk(a, b, &mut path, ops);
}

fn walk(a: &Value, b: &Value, path: &mut PointerBuf, ops: &mut Vec<PatchOp>) {
    match (a, b) {
        (Value::Object(old), Value::Object(new)) => {
            let mark = path.len();
            for (key, old_value) in old {
                path.push(key);
                match new.get(key) {
                    Some(new_value) => walk(old_value, new_value, path, ops),
                    None => ops.push(PatchOp::Del {
                        path: path.as_str().to_owned(),
                    }),
                }
                path.truncate(mark);
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    path.push(key);
                    ops.push(set(path, new_value));
                    path.truncate(mark);
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            let mark = path.len();
            let common = old.len().min(new.len());
            for (index, (old_value, new_value)) in old.iter().zip(new).enumerate() {
                path.push_index(index);
                walk(old_value, new_value, path, ops);
                path.truncate(mark);
            }
            if new.len() > common {
                path.push("-");
                for new_value in &new[common..] {
                    ops.push(set(path, new_value));
                }
            } else {
                for index in (common..old.len()).rev() {
                    path.push_index(index);
                    ops.push(PatchOp::Del {
                        path: path.as_str().to_owned(),
                    });
                    path.truncate(mark);
                }
            }
            path.truncate(mark);
        }
        _ => {
            if a != b {
                ops.push(set(path, b));
            }
        }
    }
}

fn set(path: &PointerBuf, value: &Value) -> PatchOp {
    PatchOp::Set {
        path: path.as_str().to_owned(),
        value: value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply;
    use serde_json::json;

    fn roundtrip(a: Value, b: Value) -> Vec<PatchOp> {
        let ops = diff(&a, &b);
        let mut work = a;
        apply(&mut work, &ops).unwrap();
        assert_eq!(work, b);
        ops
    }

    fn paths(ops: &[PatchOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                PatchOp::Set { path, .. } => format!("set {path}"),
                PatchOp::Del { path } => format!("del {path}"),
            })
            .collect()
    }

    #[test]
    fn equal_documents_give_no_ops() {
        let doc = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(diff(&doc, &doc).is_empty());
    }

    #[test]
    fn deep_change_yields_only_the_leaf() {
        let a = json!({"players": {"s_ab": {"x": 1, "y": 2}, "s_cd": {"x": 0, "y": 0}}});
        let b = json!({"players": {"s_ab": {"x": 1, "y": 3}, "s_cd": {"x": 0, "y": 0}}});
        let ops = roundtrip(a, b);
        assert_eq!(
            ops,
            [PatchOp::Set {
                path: "/players/s_ab/y".into(),
                value: json!(3)
            }]
        );
    }

    #[test]
    fn keys_added_and_removed_with_escaping() {
        let a = json!({"keep": 1, "a/b": 1});
        let b = json!({"keep": 1, "m~n": 2});
        assert_eq!(paths(&roundtrip(a, b)), ["del /a~1b", "set /m~0n"]);
    }

    #[test]
    fn arrays_grow_by_append_and_shrink_from_the_end() {
        let ops = roundtrip(json!({"l": [1, 2]}), json!({"l": [1, 5, 6, 7]}));
        assert_eq!(paths(&ops), ["set /l/1", "set /l/-", "set /l/-"]);
        let ops = roundtrip(json!({"l": [1, 2, 3, 4]}), json!({"l": [0, 2]}));
        assert_eq!(paths(&ops), ["set /l/0", "del /l/3", "del /l/2"]);
        let ops = roundtrip(
            json!({"l": [[1], {"k": 1}]}),
            json!({"l": [[1, 2], {"k": 2}]}),
        );
        assert_eq!(paths(&ops), ["set /l/0/-", "set /l/1/k"]);
    }

    #[test]
    fn type_change_is_one_set() {
        let ops = roundtrip(json!({"v": {"deep": [1]}}), json!({"v": [{"deep": 1}]}));
        assert_eq!(paths(&ops), ["set /v"]);
        let ops = roundtrip(json!({"n": 1}), json!({"n": 1.0}));
        assert_eq!(paths(&ops), ["set /n"]);
    }

    #[test]
    fn non_object_target_root_is_a_root_set() {
        assert_eq!(paths(&diff(&json!({}), &json!([]))), ["set "]);
    }
}
