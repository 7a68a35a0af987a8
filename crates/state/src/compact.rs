//! Dropping ops that a later op in the same patch makes pointless, so a tick
//! in which a player moves three times sends one position, not three.

use crate::op::PatchOp;

/// Removes every `set` whose effect a later `set` overwrites (same path or an
/// ancestor), keeping the order of the rest. Applying the result to a
/// document gives exactly what applying `ops` gives, whenever `ops` applies.
///
/// Conservative by design: `del` ops and ops whose path has an array-like
/// token (`-` or digits) can shift or create siblings, so they are kept and
/// nothing before them is compared with anything after them.
pub fn compact(ops: &mut Vec<PatchOp>) {
    if ops.len() < 2 {
        return;
    }
    let mut keep = vec![true; ops.len()];
    // Paths of later plain sets since the last barrier.
    let mut later: Vec<&str> = Vec::new();
    let mut dropped = false;
    for (i, op) in ops.iter().enumerate().rev() {
        let path = op.path();
        let barrier = matches!(op, PatchOp::Del { .. }) || has_array_token(path);
        if barrier {
            later.clear();
            continue;
        }
        if later.iter().any(|q| covers(q, path)) {
            keep[i] = false;
            dropped = true;
        } else {
            later.push(path);
        }
    }
    if dropped {
        let mut k = keep.into_iter();
        ops.retain(|_| k.next().unwrap_or(true));
    }
}

/// `q` is `p` or an ancestor of it.
fn covers(q: &str, p: &str) -> bool {
    p.len() >= q.len() && p.starts_with(q) && (p.len() == q.len() || p.as_bytes()[q.len()] == b'/')
}

fn has_array_token(path: &str) -> bool {
    path.split('/')
        .skip(1)
        .any(|t| t == "-" || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(p: &str, v: i64) -> PatchOp {
        PatchOp::set(p, json!(v))
    }

    #[test]
    fn keeps_the_last_set_of_a_path_and_drops_overwritten_descendants() {
        let mut ops = vec![
            set("/players/a/x", 1),
            set("/players/b/x", 1),
            set("/players/a/x", 2),
            set("/players/a/y", 2),
            PatchOp::set("/players/b", json!({ "x": 9 })),
        ];
        compact(&mut ops);
        assert_eq!(
            ops,
            vec![
                set("/players/a/x", 2),
                set("/players/a/y", 2),
                PatchOp::set("/players/b", json!({ "x": 9 })),
            ]
        );
    }

    #[test]
    fn barriers_stop_compaction() {
        let mut ops = vec![set("/a/x", 1), PatchOp::del("/b"), set("/a/x", 2)];
        compact(&mut ops);
        assert_eq!(ops.len(), 3);
        let mut ops = vec![set("/arr/1", 1), set("/arr/1", 2)];
        compact(&mut ops);
        assert_eq!(ops.len(), 2, "array-like paths are never compacted");
        assert!(covers("", "/a"));
        assert!(covers("/a", "/a/b"));
        assert!(!covers("/a", "/ab"));
    }
}
