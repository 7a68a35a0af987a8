//! Properties of diff, apply, canonical JSON, checksum and pointers on random input.

use arbiter_state::pointer::{Pointer, PointerBuf, escape_token};
use arbiter_state::{PatchOp, Value, apply, apply_one, canonical_json, checksum, diff};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Map;

/// Keys from a small pool (so random documents share keys and diffs recurse),
/// including characters that need pointer escaping and that sort differently in
/// UTF-8 and UTF-16.
fn key() -> impl Strategy<Value = String> {
    select(vec![
        "a", "b", "players", "", "a/b", "~", "~1", "x y", "é", "\u{fb33}", "😀", "0", "-",
    ])
    .prop_map(str::to_owned)
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-5i64..5).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1000i32..1000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        "[a-c\"\\\\\n\u{0}é😀]{0,4}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), value()), 0..6)
        .prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// Every pointer into `doc` (containers and leaves), including the root.
fn pointers(doc: &Value, at: &mut PointerBuf, out: &mut Vec<String>) {
    out.push(at.as_str().to_owned());
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k);
                pointers(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push_index(i);
                pointers(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Ops aimed at `doc`: mostly at paths that exist (or just beside them), some junk.
fn ops_for(doc: &Value) -> impl Strategy<Value = Vec<PatchOp>> + use<> {
    let mut paths = Vec::new();
    pointers(doc, &mut PointerBuf::new(), &mut paths);
    let extra = [
        "/zz",
        "/a/-",
        "/players/-",
        "/a/0",
        "/a/01",
        "/a/99",
        "nope",
        "/~2",
        "/a~",
        "",
    ];
    let paths: Vec<String> = paths
        .iter()
        .flat_map(|p| {
            [
                p.clone(),
                format!("{p}/-"),
                format!("{p}/0"),
                format!("{p}/new"),
            ]
        })
        .chain(extra.iter().map(|s| (*s).to_owned()))
        .collect();
    let op = (any::<bool>(), select(paths), value()).prop_map(|(is_set, path, value)| {
        if is_set {
            PatchOp::Set { path, value }
        } else {
            PatchOp::Del { path }
        }
    });
    prop::collection::vec(op, 0..8)
}

/// Equality where numbers compare as the doubles they denote (canonical JSON is
/// about doubles: `1` and `1.0` are the same number there).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_the_diff_gives_the_target(a in object(), b in object()) {
        let ops = diff(&a, &b);
        let mut work = a.clone();
        apply(&mut work, &ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&work, &b);
        prop_assert!(diff(&a, &a).is_empty());
        prop_assert!(diff(&b, &work).is_empty());
    }

    #[test]
    fn diff_of_a_small_change_is_small((a, ops) in object().prop_flat_map(|a| {
        let ops = ops_for(&a);
        (Just(a), ops)
    })) {
        // Apply whatever ops succeed, then diff back and forth.
        let mut b = a.clone();
        for op in &ops {
            let _ = apply_one(&mut b, op);
        }
        let forward = diff(&a, &b);
        let mut work = a.clone();
        apply(&mut work, &forward).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&work, &b);
        if a == b {
            prop_assert!(forward.is_empty());
        }
    }

    #[test]
    fn failed_apply_changes_nothing_and_success_equals_one_by_one(
        (doc, ops) in object().prop_flat_map(|d| { let ops = ops_for(&d); (Just(d), ops) })
    ) {
        let mut all_at_once = doc.clone();
        let result = apply(&mut all_at_once, &ops);
        let mut one_by_one = doc.clone();
        let first_failure = ops.iter().position(|op| apply_one(&mut one_by_one, op).is_err());
        match result {
            Ok(()) => {
                prop_assert_eq!(first_failure, None);
                prop_assert_eq!(&all_at_once, &one_by_one);
            }
            Err(err) => {
                prop_assert_eq!(&all_at_once, &doc, "a failed apply must leave the document as it was");
                prop_assert_eq!(Some(err.index), first_failure);
            }
        }
        prop_assert!(all_at_once.is_object(), "the root stays an object");
    }

    #[test]
    fn checksum_ignores_member_order(
        members in prop::collection::btree_map(key(), value(), 0..8),
        seed in any::<u64>(),
    ) {
        // Write the same members as JSON text in two different orders.
        let mut listed: Vec<(String, Value)> = members.into_iter().collect();
        let text = |list: &[(String, Value)]| {
            let body: Vec<String> = list
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
                .collect();
            format!("{{{}}}", body.join(","))
        };
        let forward = text(&listed);
        shuffle(&mut listed, seed);
        let shuffled = text(&listed);
        listed.reverse();
        let mut built = Map::new();
        for (k, v) in &listed {
            built.insert(k.clone(), v.clone());
        }
        let a: Value = serde_json::from_str(&forward).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b: Value = serde_json::from_str(&shuffled).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = Value::Object(built);
        prop_assert_eq!(checksum(&a), checksum(&b));
        prop_assert_eq!(checksum(&a), checksum(&c));
        prop_assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn canonical_json_reparses_to_the_same_document(doc in object()) {
        let text = canonical_json(&doc);
        let back: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(same_json(&back, &doc), "{} vs {}", back, doc);
        prop_assert_eq!(canonical_json(&back), text);
        prop_assert_eq!(checksum(&back), checksum(&doc));
    }

    #[test]
    fn checksum_is_the_hash_of_the_canonical_text(doc in object()) {
        let text = canonical_json(&doc);
        prop_assert_eq!(checksum(&doc).as_u64(), xxhash_rust::xxh64::xxh64(text.as_bytes(), 0));
    }

    #[test]
    fn pointer_escape_and_parse_round_trip(tokens in prop::collection::vec("[a~/0-1é😀-]{0,6}", 0..6)) {
        let built: PointerBuf = tokens.iter().collect();
        let parsed = Pointer::parse(built.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<String> = parsed.tokens().map(|t| t.into_owned()).collect();
        prop_assert_eq!(&back, &tokens);
        let joined: String = tokens.iter().map(|t| format!("/{}", escape_token(t))).collect();
        prop_assert_eq!(joined, built.as_str());
    }

    #[test]
    fn any_string_parses_or_errors_without_panic(raw in "[/~01a-]{0,12}", token in "[0-9a-]{0,4}") {
        if let Ok(p) = Pointer::parse(&raw) {
            prop_assert!(raw.is_empty() || raw.starts_with('/'));
            let rebuilt: PointerBuf = p.tokens().collect::<Vec<_>>().iter().collect();
            prop_assert_eq!(rebuilt.as_str(), raw.as_str());
        }
        if let Some(i) = arbiter_state::pointer::parse_index(&token) {
            prop_assert_eq!(i.to_string(), token);
        }
    }
}

#[test]
fn member_order_selection_is_not_trivial() {
    // Guard for the order property above: the pool really contains keys whose UTF-8
    // and UTF-16 orders differ, so sorting is exercised.
    assert!("😀" > "\u{fb33}");
    assert!(arbiter_state::utf16_cmp("😀", "\u{fb33}").is_lt());
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

proptest! {
    #[test]
    fn compacted_ops_give_the_same_document((doc, ops) in object().prop_flat_map(|d| {
        let ops = prop::collection::vec(ops_for(&d), 1..4).prop_map(|v| v.concat());
        (Just(d), ops)
    })) {
        // Keep the ops that apply in sequence (a room only compacts committed ops).
        let mut applied = doc.clone();
        let ops: Vec<PatchOp> = ops
            .into_iter()
            .filter(|op| arbiter_state::apply_one(&mut applied, op).is_ok())
            .collect();
        let mut compacted = ops.clone();
        arbiter_state::compact(&mut compacted);
        prop_assert!(compacted.len() <= ops.len());
        let mut again = doc.clone();
        arbiter_state::apply(&mut again, &compacted).expect("compacted ops apply");
        prop_assert_eq!(again, applied);
    }
}
