//! The crate reproduces every checksum vector: the shared protocol vectors and the
//! extra ones computed by the independent Python and JavaScript implementations.

use std::path::PathBuf;

use arbiter_state::{Checksum, StateDoc, Value, canonical_json, checksum, write_canonical};

struct Vector {
    json: String,
    canonical: String,
    checksum: String,
}

fn load(name: &str) -> Vec<Vector> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let vectors = file["vectors"].as_array().expect("a 'vectors' array");
    assert!(!vectors.is_empty(), "{name} has no vectors");
    vectors
        .iter()
        .map(|v| Vector {
            json: v["json"].as_str().expect("json").to_owned(),
            canonical: v["canonical"].as_str().expect("canonical").to_owned(),
            checksum: v["checksum"].as_str().expect("checksum").to_owned(),
        })
        .collect()
}

fn check_all(name: &str) {
    for (i, v) in load(name).iter().enumerate() {
        let value: Value =
            serde_json::from_str(&v.json).unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
        assert_eq!(
            canonical_json(&value),
            v.canonical,
            "{name} #{i}: canonical form"
        );
        assert_eq!(
            checksum(&value).to_string(),
            v.checksum,
            "{name} #{i}: checksum"
        );

        let mut written = Vec::new();
        write_canonical(&value, &mut written).expect("write to a Vec");
        assert_eq!(
            written,
            v.canonical.as_bytes(),
            "{name} #{i}: writer variant"
        );

        let expected: Checksum = v.checksum.parse().expect("fixture checksum parses");
        let doc = StateDoc::try_from(value).expect("vector roots are objects");
        assert_eq!(doc.checksum(), expected, "{name} #{i}: StateDoc");

        // The canonical form is a fixed point: canonicalizing it again changes nothing.
        let reparsed: Value = serde_json::from_str(&v.canonical).expect("canonical is JSON");
        assert_eq!(
            canonical_json(&reparsed),
            v.canonical,
            "{name} #{i}: idempotent"
        );
    }
}

#[test]
fn shared_protocol_vectors() {
    check_all("checksum.json");
}

#[test]
fn extra_vectors() {
    check_all("checksum_extra.json");
}

#[test]
fn committed_copy_matches_the_spec_when_present() {
    // The spec lives outside the repository; when it is beside the checkout (as in
    // development and CI), the committed copy must not drift from it.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [root.join("../shared/spec/vectors/checksum.json")];
    let ours =
        std::fs::read(root.join("crates/state/tests/fixtures/checksum.json")).expect("fixture");
    for spec in candidates.iter().filter(|p| p.exists()) {
        let theirs = std::fs::read(spec).expect("readable spec vectors");
        assert!(
            ours == theirs,
            "tests/fixtures/checksum.json differs from {}",
            spec.display()
        );
    }
}
