//! Shared by the integration tests: loading the golden fixtures.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use serde_json::Value;

/// One frame of a fixture file.
pub struct FixtureFrame {
    pub ty: String,
    pub name: String,
    pub direction: String,
    pub canonical: bool,
    pub frame: Value,
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture file as `(file stem, parsed JSON)`, sorted by name.
pub fn fixture_files() -> Vec<(String, Value)> {
    let mut files: Vec<(String, Value)> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_owned();
            let text = std::fs::read_to_string(&path).expect("readable fixture");
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
            (stem, value)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every frame of every fixture file.
pub fn fixture_frames() -> Vec<FixtureFrame> {
    let mut out = Vec::new();
    for (stem, file) in fixture_files() {
        let ty = file["type"]
            .as_str()
            .expect("fixture has a type")
            .to_owned();
        assert_eq!(ty, stem, "fixture file name must be its type");
        for frame in file["frames"].as_array().expect("fixture has frames") {
            out.push(FixtureFrame {
                ty: ty.clone(),
                name: frame["name"].as_str().expect("frame has a name").to_owned(),
                direction: frame["direction"]
                    .as_str()
                    .expect("frame has a direction")
                    .to_owned(),
                canonical: frame["canonical"].as_bool().unwrap_or(true),
                frame: frame["frame"].clone(),
            });
        }
    }
    out
}
