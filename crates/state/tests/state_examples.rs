//! The example checksum implementations in `docs/examples` (Python and Node) agree
//! with the vectors and with this crate, so the documentation cannot rot.
//!
//! `python3` and `node` are required: a missing interpreter fails the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arbiter_state::{Value, apply, canonical_json, checksum, diff};
use serde_json::{Map, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The two implementations: interpreter and script.
fn scripts() -> [(&'static str, PathBuf); 2] {
    let examples = repo().join("docs/examples");
    [
        ("python3", examples.join("checksum.py")),
        ("node", examples.join("checksum.mjs")),
    ]
}

/// Runs `interpreter script args…` with `stdin`, returns stdout; panics loudly on failure.
fn run(interpreter: &str, script: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(interpreter)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{interpreter}` (it must be installed): {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for the script");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert!(
        out.status.success(),
        "{interpreter} {} {args:?} failed ({}):\n{stdout}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn scripts_reproduce_both_fixture_files() {
    for (interpreter, script) in scripts() {
        for file in ["checksum.json", "checksum_extra.json"] {
            let path = fixture(file);
            let out = run(
                interpreter,
                &script,
                &["--check", path.to_str().expect("UTF-8 path")],
                b"",
            );
            assert!(
                out.contains(" 0 mismatched"),
                "{interpreter} on {file}: {out}"
            );
        }
    }
}

/// The worked example of `docs/state-sync.md`, before and after its patch.
fn worked_example() -> (Value, Value) {
    let before = json!({"tick": 42, "players": {
        "s_b": {"x": -1.5, "y": 20.0, "name": "Zoë"},
        "s_a": {"x": 3, "y": 0.1, "name": "Ann \"A\""}}, "winner": null});
    let after = json!({"tick": 43, "players": {
        "s_a": {"x": 3.5, "y": 0.1, "name": "Ann \"A\""},
        "s_c": {"x": 0, "y": 0, "name": "Çağ"}}, "winner": null});
    (before, after)
}

#[test]
fn worked_example_of_the_docs() {
    let (before, after) = worked_example();
    assert_eq!(
        canonical_json(&before),
        r#"{"players":{"s_a":{"name":"Ann \"A\"","x":3,"y":0.1},"s_b":{"name":"Zoë","x":-1.5,"y":20}},"tick":42,"winner":null}"#
    );
    assert_eq!(checksum(&before).to_string(), "f90d600fa000af2e");
    let ops = diff(&before, &after);
    assert_eq!(
        serde_json::to_value(&ops).expect("serialize"),
        json!([
            {"op": "set", "path": "/players/s_a/x", "value": 3.5},
            {"op": "del", "path": "/players/s_b"},
            {"op": "set", "path": "/players/s_c", "value": {"x": 0, "y": 0, "name": "Çağ"}},
            {"op": "set", "path": "/tick", "value": 43}
        ])
    );
    let mut replica = before;
    apply(&mut replica, &ops).expect("the patch applies");
    assert_eq!(checksum(&replica).to_string(), "aa645e63a05d191a");
    let doc = repo().join("docs/state-sync.md");
    let text = std::fs::read_to_string(&doc).expect("docs/state-sync.md exists");
    let (before, _) = worked_example();
    for needle in [
        "f90d600fa000af2e",
        "aa645e63a05d191a",
        &canonical_json(&before),
        &canonical_json(&after),
    ] {
        assert!(
            text.contains(needle),
            "docs/state-sync.md no longer shows {needle}"
        );
    }
}

#[test]
fn scripts_print_what_the_crate_computes() {
    let (before, after) = worked_example();
    for doc in [before, after] {
        let expected = format!("{}\n{}\n", canonical_json(&doc), checksum(&doc));
        let text = serde_json::to_string_pretty(&doc).expect("serialize");
        for (interpreter, script) in scripts() {
            assert_eq!(
                run(interpreter, &script, &[], text.as_bytes()),
                expected,
                "{interpreter} from stdin"
            );
            assert_eq!(
                run(interpreter, &script, &["-"], text.as_bytes()),
                expected,
                "{interpreter} with '-'"
            );
        }
    }
}

#[test]
fn scripts_agree_with_the_crate_on_random_documents() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vectors: Vec<Value> = (0..300)
        .map(|_| {
            let doc = rng.object(3);
            json!({
                "json": serde_json::to_string(&doc).expect("serialize"),
                "canonical": canonical_json(&doc),
                "checksum": checksum(&doc).to_string(),
            })
        })
        .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state_random_vectors.json");
    let file = json!({"about": "generated by state_examples.rs", "vectors": vectors});
    std::fs::write(&path, serde_json::to_vec(&file).expect("serialize")).expect("write vectors");
    for (interpreter, script) in scripts() {
        let out = run(
            interpreter,
            &script,
            &["--check", path.to_str().expect("UTF-8 path")],
            b"",
        );
        assert!(
            out.contains("300 vectors, 0 mismatched"),
            "{interpreter}: {out}"
        );
    }
}

/// A small deterministic generator (xorshift64*) of awkward JSON documents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn number(&mut self) -> Value {
        match self.below(6) {
            // Any finite double, bit pattern uniform: every exponent range.
            0 | 1 => {
                let f = f64::from_bits(self.next());
                if f.is_finite() { json!(f) } else { json!(0.5) }
            }
            2 => json!(self.next()),
            3 => json!(self.next() as i64),
            4 => json!((self.next() % 2_000_001) as f64 / 1000.0 - 1000.0),
            _ => json!(self.below(100)),
        }
    }

    fn string(&mut self) -> String {
        const POOL: &[char] = &[
            'a',
            'Z',
            '0',
            ' ',
            '"',
            '\\',
            '/',
            '~',
            '\n',
            '\u{0}',
            '\u{1f}',
            '\u{7f}',
            'é',
            '\u{2028}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fb33}',
            '\u{ffff}',
            '😀',
            '\u{10000}',
            '\u{10ffff}',
        ];
        let len = self.below(6);
        (0..len)
            .map(|_| POOL[self.below(POOL.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => self.number(),
            3 => Value::String(self.string()),
            4 => (0..self.below(5)).map(|_| self.value(depth - 1)).collect(),
            _ => self.object(depth - 1),
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let mut map = Map::new();
        for _ in 0..self.below(6) {
            let key = self.string();
            let value = self.value(depth);
            map.insert(key, value);
        }
        Value::Object(map)
    }
}
