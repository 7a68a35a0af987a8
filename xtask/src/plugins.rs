//! `cargo xtask plugins` (being written).

use anyhow::Result;

/// Builds every plugin into `target/plugins/`.
pub(crate) fn run() -> Result<()> {
    Ok(())
}
