//! Unit tests of the settings: precedence, the file format, validation and the
//! mapping onto the runtime configuration.
//!
//! The process environment is never read or changed here: [`parse`] strips
//! every `env = …` from the clap command, so the tests are deterministic
//! whatever `ARBITER_*` variables the machine has. That clap itself applies
//! env below flags is covered by `tests/server_config.rs`, which runs the
//! binary with a given environment.

use std::fs;
use std::path::{Path, PathBuf};

use arbiter_plugin_host::Limits as HostLimits;
use arbiter_protocol::Limits;
use arbiter_runtime::RuntimeConfig;
use arbiter_session::{AuthConfig, SessionConfig};
use clap::{CommandFactory, FromArgMatches};

use super::*;

/// `args` parsed as the binary's command line, ignoring the environment.
fn parse(args: &[&str]) -> Cli {
    let matches = Cli::command()
        .mut_args(|arg| arg.env(None::<&str>))
        .try_get_matches_from(std::iter::once("arbiter").chain(args.iter().copied()))
        .expect("valid command line");
    Cli::from_arg_matches(&matches).expect("matches fit Cli")
}

fn env() -> Environment {
    Environment {
        rust_log: None,
        cwd: PathBuf::from("/nonexistent-cwd"),
    }
}

/// A fresh, empty directory for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbiter-server-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write scratch file");
    path
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn defaults_match_the_protocol_and_the_runtime() {
    let s = load(&parse(&[]), &env()).expect("defaults are valid");
    assert_eq!(s.ws_addr.to_string(), "127.0.0.1:4000");
    assert_eq!(s.quic_addr.to_string(), "127.0.0.1:4434");
    assert_eq!(s.admin_addr.to_string(), "127.0.0.1:9100");
    assert_eq!(s.auth, AuthMode::Disabled);
    assert_eq!(s.auth.as_str(), "disabled");
    assert_eq!(s.log, "info");
    assert_eq!(s.log_format, LogFormat::Text);
    assert!(
        s.plugins_dir.ends_with("target/plugins"),
        "{:?}",
        s.plugins_dir
    );

    let rc = s.runtime_config();
    let d = RuntimeConfig::default();
    assert_eq!(rc.session, SessionConfig::default());
    assert_eq!(rc.limits, Limits::default());
    assert_eq!(rc.outbox_capacity, d.outbox_capacity);
    assert_eq!(rc.patch_history, d.patch_history);
    assert_eq!(rc.checksum_every, d.checksum_every);
    assert_eq!(rc.empty_room_grace, d.empty_room_grace);
    assert_eq!(rc.unreliable_types, d.unreliable_types);
    assert_eq!(rc.drain_timeout, d.drain_timeout);
    assert_eq!(rc.host.limits, HostLimits::default());
    assert_eq!(rc.host.budget, d.host.budget);
    assert!(rc.quic.is_none());
    let cache = rc.host.cache_dir.expect("cache on by default");
    assert!(cache.ends_with("target/plugin-cache"), "{cache:?}");
}

#[test]
fn flag_beats_file_beats_default() {
    let dir = scratch("precedence");
    let file = write(
        &dir,
        "arbiter.toml",
        "ws_addr = \"127.0.0.1:5000\"\nheartbeat_ms = 2000\nlog = \"debug\"\n",
    );
    let file = file.to_str().expect("utf-8 temp path");
    let s = load(
        &parse(&["--config", file, "--ws-addr", "127.0.0.1:6000"]),
        &env(),
    )
    .expect("valid");
    assert_eq!(s.ws_addr.to_string(), "127.0.0.1:6000", "flag over file");
    assert_eq!(s.heartbeat_ms, 2000, "file over default");
    assert_eq!(s.rate_per_sec, 100, "default when nobody sets it");
    assert_eq!(s.log, "debug");
}

#[test]
fn layers_stack_field_by_field() {
    let top = Layer {
        rate_burst: Some(7),
        ..Layer::default()
    };
    let bottom = Layer {
        rate_burst: Some(9),
        rate_per_sec: Some(3),
        ..Layer::default()
    };
    let both = top.over(bottom);
    assert_eq!(both.rate_burst, Some(7));
    assert_eq!(both.rate_per_sec, Some(3));
    assert_eq!(both.heartbeat_ms, None);
}

#[test]
fn rust_log_is_below_the_log_setting_and_above_the_file() {
    let dir = scratch("rust-log");
    let file = write(&dir, "a.toml", "log = \"warn\"\n");
    let file = file.to_str().expect("utf-8 temp path");
    let with_rust_log = Environment {
        rust_log: Some("trace".into()),
        ..env()
    };
    let s = load(&parse(&["--config", file]), &with_rust_log).expect("valid");
    assert_eq!(s.log, "trace");
    let s = load(&parse(&["--log", "error"]), &with_rust_log).expect("valid");
    assert_eq!(s.log, "error");
    let s = load(&parse(&["--config", file]), &env()).expect("valid");
    assert_eq!(s.log, "warn");
}

/// The TOML example of docs/running.md, so the documentation cannot drift.
fn docs_example() -> String {
    let doc = include_str!("../../../docs/running.md");
    let start = doc
        .find("```toml\n")
        .expect("docs/running.md has a ```toml example")
        + 8;
    let len = doc[start..].find("```").expect("closed code block");
    doc[start..start + len].to_owned()
}

#[test]
fn the_documented_sample_file_parses() {
    let mut layer =
        Layer::from_toml(&docs_example(), Path::new("/etc/arbiter")).expect("sample parses");
    assert_eq!(layer.auth, Some(AuthMode::Jwt));
    assert_eq!(
        layer.jwt_public_key.as_deref(),
        Some(Path::new("/etc/arbiter/jwt.pub.pem"))
    );
    // The key file does not exist here; everything else must resolve.
    layer.auth = None;
    layer.jwt_public_key = None;
    let s = resolve(layer, &env()).expect("sample is valid");
    assert_eq!(s.ws_addr.to_string(), "0.0.0.0:4000");
    assert_eq!(s.admin_addr.to_string(), "127.0.0.1:9100");
    assert_eq!(s.plugins_dir, Path::new("/opt/arbiter/plugins"));
    assert_eq!(s.heartbeat_ms, 15_000);
    assert_eq!(s.unreliable_types, ["move", "*.move", "*.pos"]);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(
        s.plugin_cache_dir.as_deref(),
        Some(Path::new("/var/cache/arbiter"))
    );
}

#[test]
fn every_setting_is_read_from_a_file() {
    let text = r#"
        ws_addr = "127.0.0.1:1"
        quic_addr = "127.0.0.1:2"
        admin_addr = "127.0.0.1:3"
        plugins_dir = "plugins"
        auth = "jwt"
        jwt_secret = "0123456789abcdef0123456789abcdef"
        heartbeat_ms = 1000
        session_ttl_ms = 2000
        max_frame_bytes = 1024
        rate_per_sec = 5
        rate_burst = 6
        outbox_capacity = 7
        patch_history = 8
        checksum_every = 9
        room_grace_ms = 10
        unreliable_types = ["a", "*.b"]
        plugin_memory_mb = 64
        plugin_budget_ms = 11
        plugin_max_errors = 12
        plugin_cache_dir = "cache"
        drain_timeout_ms = 13
        log = "arbiter=debug"
        log_format = "json"
    "#;
    let layer = Layer::from_toml(text, Path::new("/srv/arb")).expect("parses");
    let rc = resolve(layer, &env()).expect("valid").runtime_config();
    assert_eq!(
        rc.plugins_dir,
        Path::new("/srv/arb/plugins"),
        "relative to the file"
    );
    assert_eq!(
        rc.host.cache_dir.as_deref(),
        Some(Path::new("/srv/arb/cache"))
    );
    let AuthConfig::Jwt(jwt) = &rc.session.auth else {
        panic!("jwt mode expected, got {:?}", rc.session.auth);
    };
    assert_eq!(
        jwt.hs256_secret.as_deref(),
        Some(&b"0123456789abcdef0123456789abcdef"[..])
    );
    assert_eq!(rc.session.heartbeat.as_millis(), 1000);
    assert_eq!(rc.session.session_ttl.as_millis(), 2000);
    assert_eq!(rc.limits.max_frame_bytes, 1024);
    assert_eq!((rc.session.rate_per_sec, rc.session.rate_burst), (5, 6));
    assert_eq!(
        (rc.outbox_capacity, rc.patch_history, rc.checksum_every),
        (7, 8, 9)
    );
    assert_eq!(rc.empty_room_grace.as_millis(), 10);
    assert_eq!(rc.unreliable_types, ["a", "*.b"]);
    assert_eq!(rc.host.limits.memory_bytes, 64 << 20);
    assert_eq!(rc.host.limits.hook_budget.as_millis(), 11);
    assert_eq!(rc.host.limits.max_errors, 12);
    assert_eq!(rc.drain_timeout.as_millis(), 13);
}

#[test]
fn file_errors_name_the_file_and_exit_2() {
    let dir = scratch("bad-file");
    let unknown = write(&dir, "unknown.toml", "ws_adr = \"127.0.0.1:1\"\n");
    let err = load(
        &parse(&["--config", unknown.to_str().expect("utf-8")]),
        &env(),
    )
    .expect_err("unknown key refused");
    assert!(matches!(err, Error::ParseFile { .. }), "{err}");
    assert!(err.to_string().contains("ws_adr"), "{err}");
    assert_eq!(err.exit_code(), 2);

    let typed = write(&dir, "typed.toml", "heartbeat_ms = \"soon\"\n");
    let err = load(
        &parse(&["--config", typed.to_str().expect("utf-8")]),
        &env(),
    )
    .expect_err("wrong type refused");
    assert!(matches!(err, Error::ParseFile { .. }), "{err}");

    let missing = dir.join("missing.toml");
    let err = load(
        &parse(&["--config", missing.to_str().expect("utf-8")]),
        &env(),
    )
    .expect_err("missing file refused");
    assert!(matches!(err, Error::ReadFile { .. }), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn bad_values_are_refused_with_the_flag_name() {
    for (args, key) in [
        (&["--ws-addr", "nonsense"][..], "ws-addr"),
        (&["--admin-addr", "127.0.0.1:99999"][..], "admin-addr"),
        (&["--quic-addr", "1.2.3.4"][..], "quic-addr"),
        (&["--rate-per-sec", "0"][..], "rate-per-sec"),
        (&["--checksum-every", "0"][..], "checksum-every"),
        (&["--plugin-memory-mb", "5000"][..], "plugin-memory-mb"),
        (&["--unreliable-types", "move,*"][..], "unreliable-types"),
        (&["--unreliable-types", "a*b"][..], "unreliable-types"),
        (&["--log", "arbiter=loud"][..], "log"),
        (&["--quic-cert", "/x/cert.pem"][..], "quic-key"),
        (&["--quic-key", "/x/key.pem"][..], "quic-cert"),
    ] {
        let err = load(&parse(args), &env()).expect_err("refused");
        match &err {
            Error::Invalid { key: k, .. } => assert_eq!(*k, key, "{err}"),
            other => panic!("{args:?}: unexpected {other}"),
        }
        assert!(
            err.to_string().starts_with(&format!("invalid --{key} ")),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn quic_certificate_paths_go_together_and_are_absolute() {
    let s = load(
        &parse(&["--quic-cert", "c.pem", "--quic-key", "k.pem"]),
        &env(),
    )
    .expect("valid");
    assert_eq!(
        s.quic_cert.as_deref(),
        Some(Path::new("/nonexistent-cwd/c.pem"))
    );
    assert_eq!(
        s.quic_key.as_deref(),
        Some(Path::new("/nonexistent-cwd/k.pem"))
    );
    let s = load(&parse(&[]), &env()).expect("valid");
    assert_eq!(
        (s.quic_cert, s.quic_key),
        (None, None),
        "generated by default"
    );
}

#[test]
fn addresses_accept_ipv6_and_host_names() {
    let s = load(
        &parse(&["--ws-addr", "[::1]:0", "--admin-addr", "localhost:0"]),
        &env(),
    )
    .expect("valid");
    assert_eq!(s.ws_addr.to_string(), "[::1]:0");
    assert!(s.admin_addr.ip().is_loopback());
}

#[test]
fn unreliable_types_are_trimmed_and_may_be_empty() {
    let s = load(&parse(&["--unreliable-types", "a, *.b ,,c"]), &env()).expect("valid");
    assert_eq!(s.unreliable_types, ["a", "*.b", "c"]);
    let s = load(&parse(&["--unreliable-types", ""]), &env()).expect("valid");
    assert!(s.unreliable_types.is_empty());
}

#[test]
fn jwt_mode_needs_a_usable_key() {
    let err = load(&parse(&["--auth", "jwt"]), &env()).expect_err("no key");
    assert!(matches!(err, Error::JwtWithoutKey), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--jwt-secret"), "{err}");

    let err = load(&parse(&["--auth", "jwt", "--jwt-secret", ""]), &env()).expect_err("empty");
    assert!(matches!(err, Error::Auth(_)), "{err}");

    let dir = scratch("jwt-key");
    let missing = dir.join("nope.pem");
    let err = load(
        &parse(&[
            "--auth",
            "jwt",
            "--jwt-public-key",
            missing.to_str().expect("utf-8"),
        ]),
        &env(),
    )
    .expect_err("missing key file");
    assert!(matches!(err, Error::ReadKey { .. }), "{err}");

    let garbage = write(&dir, "bad.pem", "not a key\n");
    let err = load(
        &parse(&[
            "--auth",
            "jwt",
            "--jwt-public-key",
            garbage.to_str().expect("utf-8"),
        ]),
        &env(),
    )
    .expect_err("bad PEM");
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert_eq!(err.exit_code(), 2);

    let s = load(&parse(&["--auth", "jwt", "--jwt-secret", "s3cret"]), &env()).expect("valid");
    assert!(matches!(
        s.runtime_config().session.auth,
        AuthConfig::Jwt(_)
    ));
}

#[test]
fn keys_without_jwt_mode_only_warn() {
    let s = load(&parse(&["--jwt-secret", "x"]), &env()).expect("valid");
    assert_eq!(s.runtime_config().session.auth, AuthConfig::Disabled);
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn printed_settings_load_back_identically() {
    let s = load(
        &parse(&[
            "--plugin-cache-dir",
            "",
            "--unreliable-types",
            "x",
            "--plugins-dir",
            "/p",
        ]),
        &env(),
    )
    .expect("valid");
    let text = s.to_toml().expect("prints");
    let back = resolve(
        Layer::from_toml(&text, Path::new("/")).expect("parses"),
        &env(),
    )
    .expect("valid");
    assert_eq!(back, s);
    assert_eq!(back.plugin_cache_dir, None);
}

#[test]
fn printed_settings_redact_the_secret() {
    let s = load(
        &parse(&["--auth", "jwt", "--jwt-secret", "hunter2hunter2"]),
        &env(),
    )
    .expect("valid");
    let text = s.to_toml().expect("prints");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("jwt_secret = \"<redacted>\""), "{text}");
}

#[test]
fn plugins_dir_defaults_to_the_local_target_when_present() {
    let dir = scratch("cwd");
    fs::create_dir_all(dir.join("target/plugins")).expect("mkdir");
    assert_eq!(default_plugins_dir(&dir), dir.join("target/plugins"));
    let elsewhere = default_plugins_dir(Path::new("/nonexistent-cwd"));
    assert!(elsewhere.ends_with("target/plugins"), "{elsewhere:?}");
    assert!(elsewhere.is_absolute(), "{elsewhere:?}");
    assert!(!elsewhere.starts_with("/nonexistent-cwd"), "{elsewhere:?}");
}

#[test]
fn relative_paths_from_flags_are_relative_to_the_working_directory() {
    let s = load(
        &parse(&["--plugins-dir", "p", "--plugin-cache-dir", "c"]),
        &env(),
    )
    .expect("valid");
    assert_eq!(s.plugins_dir, Path::new("/nonexistent-cwd/p"));
    assert_eq!(
        s.plugin_cache_dir.as_deref(),
        Some(Path::new("/nonexistent-cwd/c"))
    );
}

#[test]
fn cache_dir_sits_beside_the_plugins_dir_unless_set() {
    let s = load(&parse(&["--plugins-dir", "/opt/a/plugins"]), &env()).expect("valid");
    assert_eq!(
        s.plugin_cache_dir.as_deref(),
        Some(Path::new("/opt/a/plugin-cache"))
    );
    let s = load(&parse(&["--plugin-cache-dir", ""]), &env()).expect("valid");
    assert_eq!(s.runtime_config().host.cache_dir, None);
}

#[test]
fn every_setting_is_documented() {
    let doc = include_str!("../../../docs/running.md");
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        assert!(
            doc.contains(&format!("| `--{long}` |")),
            "--{long} missing from docs/running.md"
        );
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(
                doc.contains(&format!("`{env}`")),
                "{env} missing from docs/running.md"
            );
        }
        if long != "config" && long != "print-config" {
            let key = long.replace('-', "_");
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "TOML key {key} missing"
            );
        }
    }
}

#[test]
fn every_metric_is_documented() {
    let doc = include_str!("../../../docs/running.md");
    let names = arbiter_runtime::Metrics::new().metric_names();
    assert!(!names.is_empty());
    for name in names {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{name} missing from docs/running.md"
        );
    }
}
