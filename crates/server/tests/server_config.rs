//! The `arbiter` binary's settings as an operator meets them: flags, real
//! environment variables (given to the child process only, never set in this
//! one) and a TOML file, checked through `--print-config`; refused settings
//! exit with code 2 and a message naming the setting.

use std::path::PathBuf;
use std::process::{Command, Output};

/// `arbiter` with an empty environment plus `env`.
fn arbiter(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run the arbiter binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The effective settings as a TOML table.
fn effective(args: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let mut all = vec!["--print-config"];
    all.extend_from_slice(args);
    let output = arbiter(&all, env);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).parse().expect("--print-config prints TOML")
}

fn scratch_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbiter-server-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scratch file");
    path
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let file = scratch_file(
        "precedence.toml",
        "ws_addr = \"127.0.0.1:7000\"\nadmin_addr = \"127.0.0.1:7100\"\nheartbeat_ms = 1234\nlog = \"warn\"\n",
    );
    let file = file.to_str().expect("utf-8 temp path");
    let t = effective(
        &["--admin-addr", "127.0.0.1:7102"],
        &[
            ("ARBITER_CONFIG", file),
            ("ARBITER_WS_ADDR", "127.0.0.1:7001"),
            ("ARBITER_ADMIN_ADDR", "127.0.0.1:7101"),
            ("RUST_LOG", "debug"),
        ],
    );
    assert_eq!(
        t["admin_addr"].as_str(),
        Some("127.0.0.1:7102"),
        "flag over env"
    );
    assert_eq!(
        t["ws_addr"].as_str(),
        Some("127.0.0.1:7001"),
        "env over file"
    );
    assert_eq!(
        t["heartbeat_ms"].as_integer(),
        Some(1234),
        "file over default"
    );
    assert_eq!(t["rate_per_sec"].as_integer(), Some(100), "default");
    assert_eq!(t["log"].as_str(), Some("debug"), "RUST_LOG over the file");
}

#[test]
fn list_and_enum_settings_come_from_env() {
    let t = effective(
        &[],
        &[
            ("ARBITER_UNRELIABLE_TYPES", "pos,*.vel"),
            ("ARBITER_LOG_FORMAT", "json"),
            ("ARBITER_AUTH", "jwt"),
            ("ARBITER_JWT_SECRET", "an-env-secret-of-some-length"),
        ],
    );
    let types: Vec<&str> = t["unreliable_types"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(types, ["pos", "*.vel"]);
    assert_eq!(t["log_format"].as_str(), Some("json"));
    assert_eq!(t["auth"].as_str(), Some("jwt"));
    assert_eq!(t["jwt_secret"].as_str(), Some("<redacted>"));
}

#[test]
fn printed_settings_are_a_valid_config_file() {
    let printed = arbiter(&["--print-config", "--heartbeat-ms", "777"], &[]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let file = scratch_file("printed.toml", &stdout(&printed));
    let t = effective(&["--config", file.to_str().expect("utf-8")], &[]);
    assert_eq!(t["heartbeat_ms"].as_integer(), Some(777));
}

/// Arguments, environment, and what stderr must mention.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn refused_settings_exit_2_naming_the_setting() {
    let cases: &[Case] = &[
        (&["--auth", "jwt"], &[], "--jwt-secret"),
        (&[], &[("ARBITER_AUTH", "jwt")], "--jwt-secret"),
        (&[], &[("ARBITER_WS_ADDR", "not-an-address")], "--ws-addr"),
        (&["--admin-addr", "127.0.0.1:70000"], &[], "--admin-addr"),
        (&["--no-such-flag"], &[], "--no-such-flag"),
        (&["--auth", "maybe"], &[], "--auth"),
        (
            &[],
            &[("ARBITER_CONFIG", "/nonexistent/arbiter.toml")],
            "/nonexistent/arbiter.toml",
        ),
    ];
    for (args, env, needle) in cases {
        let output = arbiter(args, env);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} {env:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(needle),
            "{args:?} {env:?}: stderr lacks {needle}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "nothing on stdout for {args:?}");
    }
}

#[test]
fn help_lists_every_env_variable() {
    let output = arbiter(&["--help"], &[]);
    assert!(output.status.success());
    let help = stdout(&output);
    for env in [
        "ARBITER_WS_ADDR",
        "ARBITER_JWT_SECRET",
        "ARBITER_PLUGIN_CACHE_DIR",
        "ARBITER_LOG",
    ] {
        assert!(help.contains(env), "{env} missing from --help");
    }
}
