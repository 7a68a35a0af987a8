//! `cargo xtask test`: the whole check, exactly what CI runs.

use crate::util::{cargo, exec, workspace_root};
use anyhow::Result;

/// Format, plugins, lints, tests, docs and the fuzz target's build, in the order
/// that fails fastest.
pub(crate) fn run_all() -> Result<()> {
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    crate::plugins::run()?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    exec(cargo().args(["test", "--workspace", "--all-targets"]))?;
    exec(cargo().args(["test", "--workspace", "--doc"]))?;
    exec(
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    let fuzz = workspace_root().join("crates/protocol/fuzz/Cargo.toml");
    if fuzz.exists() {
        // The fuzz targets must keep building on stable; fuzzing itself needs nightly.
        exec(cargo().args(["build", "--manifest-path"]).arg(&fuzz).env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/fuzz-build"),
        ))?;
    }
    Ok(())
}

/// Entry point of `cargo xtask test`.
pub(crate) fn run() -> Result<()> {
    run_all()?;
    eprintln!("xtask: all checks passed");
    Ok(())
}
