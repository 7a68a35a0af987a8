//! docs/protocol.md cannot drift from the code: every fixture frame appears in
//! it as a JSON code block, every message type and error code it names exists,
//! and every message type and error code has its place in it.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use arbiter_protocol::{ErrorCode, MessageType};
use serde_json::Value;

use common::fixture_frames;

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The contents of every ```json block.
fn json_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unterminated ```json block");
    blocks
}

/// Each block parsed as one JSON value, or else line by line.
fn doc_values(doc: &str) -> Vec<Value> {
    let mut values = Vec::new();
    for block in json_blocks(doc) {
        match serde_json::from_str::<Value>(&block) {
            Ok(v) => values.push(v),
            Err(_) => {
                for line in block.lines().filter(|l| !l.trim().is_empty()) {
                    let v = serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                        panic!("a ```json block line is not JSON ({e}): {line}")
                    });
                    values.push(v);
                }
            }
        }
    }
    values
}

/// Names of the `### \`type\`` headings.
fn headings(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_fixture_frame_is_shown_in_the_docs() {
    let doc = doc();
    let values = doc_values(&doc);
    for fx in fixture_frames() {
        assert!(
            values.contains(&fx.frame),
            "docs/protocol.md does not show fixture {} / {}:\n{}",
            fx.ty,
            fx.name,
            serde_json::to_string(&fx.frame).unwrap_or_default()
        );
    }
}

#[test]
fn every_documented_type_exists_and_every_type_is_documented() {
    let doc = doc();
    let documented = headings(&doc);
    for name in &documented {
        assert!(
            MessageType::from_wire(name).is_some(),
            "docs section for unknown type {name}"
        );
    }
    for ty in MessageType::ALL {
        assert!(documented.contains(ty.as_str()), "no docs section for {ty}");
        assert!(
            doc.contains(&format!("| `{ty}` |")),
            "{ty} is missing from the message table"
        );
    }
    for value in doc_values(&doc) {
        if let Some(t) = value.get("t").and_then(Value::as_str) {
            assert!(
                MessageType::from_wire(t).is_some(),
                "docs example with unknown type {t}"
            );
        }
    }
}

#[test]
fn every_error_code_is_in_the_table_and_no_other() {
    let doc = doc();
    for code in ErrorCode::ALL {
        assert!(
            doc.contains(&format!("| `{code}` |")),
            "{code} is missing from the error table"
        );
    }
    let mut documented = 0;
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((name, _)) = rest.split_once("` |") else {
            continue;
        };
        let is_code_row = line.contains("stays open") || line.contains("**closes**");
        if is_code_row {
            assert!(
                ErrorCode::from_wire(name).is_some(),
                "docs list unknown error code {name}"
            );
            documented += 1;
        }
    }
    assert_eq!(documented, ErrorCode::ALL.len());
}

#[test]
fn closing_codes_match_the_docs() {
    let doc = doc();
    for code in ErrorCode::ALL {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{code}` |")))
            .unwrap_or_else(|| panic!("no row for {code}"));
        assert_eq!(
            row.contains("**closes**"),
            code.closes_connection(),
            "{row}"
        );
    }
}
