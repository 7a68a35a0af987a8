//! `cargo xtask serve`: the one command that runs a working server on a fresh
//! machine: build the example plugins, then run `arbiter` (release) on them.

use anyhow::Result;

use crate::util::{cargo, exec, workspace_root};

pub(crate) fn run(args: &[String]) -> Result<()> {
    crate::plugins::run()?;
    // The binary's default plugins directory is `<workspace>/target/plugins`,
    // so flags, environment and config file can still point elsewhere.
    let mut cmd = cargo();
    cmd.current_dir(workspace_root()).args([
        "run",
        "--release",
        "-p",
        "arbiter-server",
        "--bin",
        "arbiter",
        "--",
    ]);
    // `cargo xtask serve -- --ws-addr 0.0.0.0:4000` passes flags through.
    cmd.args(args.iter().skip_while(|a| *a == "--"));
    exec(&mut cmd)
}
