//! Project chores, run as `cargo xtask <command>`:
//!
//! - `cargo xtask test`: everything CI checks (format, lints, plugins, tests, docs,
//!   the fuzz target's build). This is the README's test command.
//! - `cargo xtask plugins`: build every plugin in `plugins/` for
//!   `wasm32-unknown-unknown` into `target/plugins/<room_type>.wasm`.
//! - `cargo xtask serve [-- <arbiter flags>]`: build the plugins and run the
//!   `arbiter` server (release) with them. This is the README's run command.

use anyhow::{Result, bail};

mod plugins;
mod serve;
mod test;
mod util;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(),
        Some("plugins") => plugins::run(),
        Some("serve") => serve::run(&args[1..]),
        Some("help") | None => {
            eprintln!("usage: cargo xtask <test|plugins|serve [-- arbiter flags]>");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command `{other}`; try `cargo xtask help`"),
    }
}
