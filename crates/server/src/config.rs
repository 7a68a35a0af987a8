//! Settings of the `arbiter` binary: command-line flags, environment
//! variables, an optional TOML file and defaults, in that order of precedence.
//!
//! Every setting is one field of [`Layer`], which is both the clap argument
//! group (flag `--ws-addr`, env `ARBITER_WS_ADDR`) and the TOML file's table
//! (key `ws_addr`). Clap fills one layer from flags and env (flag wins); the
//! file fills another; [`load`] stacks them over the defaults and validates the
//! result into [`Settings`], which maps onto the runtime's
//! [`RuntimeConfig`].
//!
//! Relative paths in the TOML file are relative to the file's directory;
//! relative paths from flags or env are relative to the working directory.
//! Either way they are made absolute here, so logs and `--print-config` show
//! where the server really looks.

use std::fs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbiter_matchmaker::{MatchmakerConfig, QueueRules};
use arbiter_plugin_host::HostConfig;
use arbiter_protocol::Limits;
use arbiter_runtime::RuntimeConfig;
use arbiter_session::{AuthConfig, JwtConfig, SessionConfig, Verifier};
use clap::{Args, Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::error::Error;

/// The workspace's `target/plugins`, where `cargo xtask plugins` puts the
/// example plugins; the fallback default of `--plugins-dir`.
const WORKSPACE_PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/plugins");

/// The `arbiter` command line.
#[derive(Debug, Parser)]
#[command(
    name = "arbiter",
    version,
    about = "Arbiter: an authoritative multiplayer game room server.",
    long_about = "Arbiter: an authoritative multiplayer game room server.\n\n\
        Every setting can be given as a flag, as an environment variable, or in \
        the TOML file named by --config; a flag beats the environment, which \
        beats the file, which beats the default. See docs/running.md."
)]
pub(crate) struct Cli {
    /// TOML file of settings (keys are the flag names with `_` for `-`).
    #[arg(long, env = "ARBITER_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Print the effective settings as TOML (secret redacted) and exit.
    #[arg(long)]
    pub(crate) print_config: bool,

    /// Every setting, as given by flags and environment variables.
    #[command(flatten)]
    pub(crate) settings: Layer,
}

/// Auth mode of the handshake (PROTOCOL.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMode {
    /// Any token and any `project_id` (local development).
    Disabled,
    /// A JWT signed with the HS256 secret or the EdDSA key is required.
    Jwt,
}

impl AuthMode {
    /// The setting's value as written (`disabled`, `jwt`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthMode::Disabled => "disabled",
            AuthMode::Jwt => "jwt",
        }
    }
}

/// Format of the log lines written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One layer of settings, every field optional: what flags + env give, or what
/// the TOML file gives.
#[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Layer {
    /// WebSocket listener address [default: 127.0.0.1:4000].
    #[arg(long, env = "ARBITER_WS_ADDR", value_name = "HOST:PORT")]
    pub(crate) ws_addr: Option<String>,
    /// QUIC listener address (UDP) [default: 127.0.0.1:4434].
    #[arg(long, env = "ARBITER_QUIC_ADDR", value_name = "HOST:PORT")]
    pub(crate) quic_addr: Option<String>,
    /// PEM certificate chain of the QUIC listener (with --quic-key)
    /// [default: a self-signed certificate generated at start].
    #[arg(long, env = "ARBITER_QUIC_CERT", value_name = "FILE")]
    pub(crate) quic_cert: Option<PathBuf>,
    /// PEM private key of --quic-cert.
    #[arg(long, env = "ARBITER_QUIC_KEY", value_name = "FILE")]
    pub(crate) quic_key: Option<PathBuf>,
    /// Admin HTTP address: /healthz, /metrics, /v1/rooms [default: 127.0.0.1:9100].
    #[arg(long, env = "ARBITER_ADMIN_ADDR", value_name = "HOST:PORT")]
    pub(crate) admin_addr: Option<String>,
    /// Directory of `<room_type>.wasm` plugins [default: ./target/plugins if it
    /// exists, else the workspace's target/plugins].
    #[arg(long, env = "ARBITER_PLUGINS_DIR", value_name = "DIR")]
    pub(crate) plugins_dir: Option<PathBuf>,
    /// Handshake auth mode [default: disabled].
    #[arg(long, env = "ARBITER_AUTH", value_enum)]
    pub(crate) auth: Option<AuthMode>,
    /// HS256 secret for `--auth jwt`.
    #[arg(
        long,
        env = "ARBITER_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub(crate) jwt_secret: Option<String>,
    /// EdDSA (Ed25519) public key PEM file for `--auth jwt`.
    #[arg(long, env = "ARBITER_JWT_PUBLIC_KEY", value_name = "FILE")]
    pub(crate) jwt_public_key: Option<PathBuf>,
    /// Heartbeat period announced to clients; no traffic for twice this
    /// suspends a session [default: 15000].
    #[arg(long, env = "ARBITER_HEARTBEAT_MS", value_name = "MS")]
    pub(crate) heartbeat_ms: Option<u64>,
    /// How long a suspended session can be resumed [default: 30000].
    #[arg(long, env = "ARBITER_SESSION_TTL_MS", value_name = "MS")]
    pub(crate) session_ttl_ms: Option<u64>,
    /// Largest client frame, in bytes [default: 65536].
    #[arg(long, env = "ARBITER_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub(crate) max_frame_bytes: Option<usize>,
    /// Sustained client frames per second per session [default: 100].
    #[arg(long, env = "ARBITER_RATE_PER_SEC", value_name = "N")]
    pub(crate) rate_per_sec: Option<u32>,
    /// Client frame burst per session [default: 200].
    #[arg(long, env = "ARBITER_RATE_BURST", value_name = "N")]
    pub(crate) rate_burst: Option<u32>,
    /// Pending outbound frames per session before it is suspended [default: 1000].
    #[arg(long, env = "ARBITER_OUTBOX_CAPACITY", value_name = "N")]
    pub(crate) outbox_capacity: Option<usize>,
    /// Patches whose checksums a room keeps for acks [default: 256].
    #[arg(long, env = "ARBITER_PATCH_HISTORY", value_name = "N")]
    pub(crate) patch_history: Option<usize>,
    /// A patch carries a checksum at least every N patches [default: 1].
    #[arg(long, env = "ARBITER_CHECKSUM_EVERY", value_name = "N")]
    pub(crate) checksum_every: Option<u32>,
    /// How long an empty room lives before it is disposed [default: 10000].
    #[arg(long, env = "ARBITER_ROOM_GRACE_MS", value_name = "MS")]
    pub(crate) room_grace_ms: Option<u64>,
    /// `room.message` types sent unreliably: names or `*.suffix` patterns,
    /// comma-separated [default: move,*.move,*.pos].
    #[arg(
        long,
        env = "ARBITER_UNRELIABLE_TYPES",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub(crate) unreliable_types: Option<Vec<String>>,
    /// Largest plugin linear memory per room, in MiB [default: 32].
    #[arg(long, env = "ARBITER_PLUGIN_MEMORY_MB", value_name = "MIB")]
    pub(crate) plugin_memory_mb: Option<u32>,
    /// Execution budget of one plugin hook call [default: 5].
    #[arg(long, env = "ARBITER_PLUGIN_BUDGET_MS", value_name = "MS")]
    pub(crate) plugin_budget_ms: Option<u64>,
    /// Plugin errors after which a room is closed [default: 10].
    #[arg(long, env = "ARBITER_PLUGIN_MAX_ERRORS", value_name = "N")]
    pub(crate) plugin_max_errors: Option<u32>,
    /// Compiled-plugin cache directory; empty disables it [default:
    /// plugin-cache beside the plugins directory].
    #[arg(long, env = "ARBITER_PLUGIN_CACHE_DIR", value_name = "DIR", value_parser = path_or_empty)]
    pub(crate) plugin_cache_dir: Option<PathBuf>,
    /// How long a graceful shutdown waits for outboxes to flush [default: 5000].
    #[arg(long, env = "ARBITER_DRAIN_TIMEOUT_MS", value_name = "MS")]
    pub(crate) drain_timeout_ms: Option<u64>,
    /// How long a matched player's reserved seat is held [default: 15000].
    #[arg(long, env = "ARBITER_RESERVATION_TTL_MS", value_name = "MS")]
    pub(crate) reservation_ttl_ms: Option<u64>,
    /// How long a matchmaking ticket waits before match.timeout [default: 60000].
    #[arg(long, env = "ARBITER_TICKET_TTL_MS", value_name = "MS")]
    pub(crate) ticket_ttl_ms: Option<u64>,
    /// Initial skill window (±) of a matchmaking ticket [default: 100].
    #[arg(long, env = "ARBITER_SKILL_WINDOW", value_name = "N")]
    pub(crate) skill_window: Option<f64>,
    /// How fast the skill window widens, per second of waiting [default: 50].
    #[arg(long, env = "ARBITER_SKILL_WINDOW_GROWTH", value_name = "N")]
    pub(crate) skill_window_growth: Option<f64>,
    /// Log filter, tracing EnvFilter syntax; RUST_LOG is read when
    /// ARBITER_LOG is unset [default: info].
    #[arg(long, env = "ARBITER_LOG", value_name = "FILTER")]
    pub(crate) log: Option<String>,
    /// Log line format [default: text].
    #[arg(long, env = "ARBITER_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,
}

/// A path that may be empty (clap's own path parser refuses `""`).
fn path_or_empty(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

/// Fills every `None` of `$hi` from `$lo`.
macro_rules! stack {
    ($hi:ident, $lo:ident; $($field:ident),* $(,)?) => {
        Layer { $($field: $hi.$field.or($lo.$field)),* }
    };
}

impl Layer {
    /// This layer over `lower`: each setting from `self` if set, else `lower`.
    pub(crate) fn over(self, lower: Layer) -> Layer {
        stack!(self, lower;
            ws_addr, quic_addr, quic_cert, quic_key, admin_addr, plugins_dir, auth, jwt_secret,
            jwt_public_key, heartbeat_ms, session_ttl_ms, max_frame_bytes,
            rate_per_sec, rate_burst, outbox_capacity, patch_history,
            checksum_every, room_grace_ms, unreliable_types, plugin_memory_mb,
            plugin_budget_ms, plugin_max_errors, plugin_cache_dir,
            drain_timeout_ms, reservation_ttl_ms, ticket_ttl_ms, skill_window,
            skill_window_growth, log, log_format,
        )
    }

    /// Parses a TOML settings file; relative paths in it become relative to
    /// `base` (the file's directory).
    pub(crate) fn from_toml(text: &str, base: &Path) -> Result<Layer, String> {
        let mut layer: Layer = toml::from_str(text).map_err(|e| e.to_string())?;
        layer.rebase(base);
        Ok(layer)
    }

    /// Makes this layer's relative paths relative to `base` (an empty path,
    /// which disables the plugin cache, stays empty).
    fn rebase(&mut self, base: &Path) {
        for path in [
            &mut self.plugins_dir,
            &mut self.jwt_public_key,
            &mut self.quic_cert,
            &mut self.quic_key,
            &mut self.plugin_cache_dir,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() && !path.as_os_str().is_empty() {
                *path = base.join(&*path);
            }
        }
    }
}

/// The validated settings the server runs with. Serializes to a TOML file
/// that [`load`] accepts (the JWT secret redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Settings {
    pub(crate) ws_addr: SocketAddr,
    pub(crate) quic_addr: SocketAddr,
    /// `None` (with `quic_key`): a self-signed certificate is generated.
    pub(crate) quic_cert: Option<PathBuf>,
    pub(crate) quic_key: Option<PathBuf>,
    pub(crate) admin_addr: SocketAddr,
    pub(crate) plugins_dir: PathBuf,
    pub(crate) auth: AuthMode,
    #[serde(serialize_with = "redact")]
    pub(crate) jwt_secret: Option<String>,
    pub(crate) jwt_public_key: Option<PathBuf>,
    pub(crate) heartbeat_ms: u64,
    pub(crate) session_ttl_ms: u64,
    pub(crate) max_frame_bytes: usize,
    pub(crate) rate_per_sec: u32,
    pub(crate) rate_burst: u32,
    pub(crate) outbox_capacity: usize,
    pub(crate) patch_history: usize,
    pub(crate) checksum_every: u32,
    pub(crate) room_grace_ms: u64,
    pub(crate) unreliable_types: Vec<String>,
    pub(crate) plugin_memory_mb: u32,
    pub(crate) plugin_budget_ms: u64,
    pub(crate) plugin_max_errors: u32,
    /// `None`: the compiled-module cache is disabled (printed as `""`).
    #[serde(serialize_with = "empty_if_none")]
    pub(crate) plugin_cache_dir: Option<PathBuf>,
    pub(crate) drain_timeout_ms: u64,
    pub(crate) reservation_ttl_ms: u64,
    pub(crate) ticket_ttl_ms: u64,
    pub(crate) skill_window: f64,
    pub(crate) skill_window_growth: f64,
    pub(crate) log: String,
    pub(crate) log_format: LogFormat,
    /// The EdDSA key's PEM text, read from `jwt_public_key`.
    #[serde(skip)]
    pub(crate) jwt_public_key_pem: Option<String>,
    /// Things worth a warning once logging is up (settings that do nothing).
    #[serde(skip)]
    pub(crate) warnings: Vec<String>,
}

fn redact<S: serde::Serializer>(secret: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

fn empty_if_none<S: serde::Serializer>(dir: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match dir {
        Some(dir) => dir.serialize(s),
        None => s.serialize_str(""),
    }
}

/// Where [`load`] looks for things outside the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    /// Value of `RUST_LOG`, used when neither `--log` nor `ARBITER_LOG` is set.
    pub(crate) rust_log: Option<String>,
    /// The working directory, for the default plugins directory.
    pub(crate) cwd: PathBuf,
}

impl Environment {
    /// The process's own environment.
    pub(crate) fn from_process() -> Environment {
        Environment {
            rust_log: std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }
}

/// Stacks flags + env over the `--config` file over the defaults, and
/// validates the result.
pub(crate) fn load(cli: &Cli, env: &Environment) -> Result<Settings, Error> {
    let mut top = cli.settings.clone();
    top.rebase(&env.cwd);
    top.log = top.log.or_else(|| env.rust_log.clone());
    let file = match &cli.config {
        Some(path) => read_file(path)?,
        None => Layer::default(),
    };
    resolve(top.over(file), env)
}

fn read_file(path: &Path) -> Result<Layer, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    Layer::from_toml(&text, base).map_err(|message| Error::ParseFile {
        path: path.to_owned(),
        message,
    })
}

/// The default plugins directory: `target/plugins` under `cwd` if it exists,
/// else the workspace's (resolved when the binary was compiled).
pub(crate) fn default_plugins_dir(cwd: &Path) -> PathBuf {
    let local = cwd.join("target").join("plugins");
    if local.is_dir() {
        return local;
    }
    let workspace = PathBuf::from(WORKSPACE_PLUGINS);
    workspace.canonicalize().unwrap_or(workspace)
}

/// Fills defaults into `layer` and validates every setting.
pub(crate) fn resolve(layer: Layer, env: &Environment) -> Result<Settings, Error> {
    let plugins_dir = layer
        .plugins_dir
        .unwrap_or_else(|| default_plugins_dir(&env.cwd));
    let plugin_cache_dir = match layer.plugin_cache_dir {
        Some(dir) if dir.as_os_str().is_empty() => None,
        Some(dir) => Some(dir),
        None => Some(default_cache_dir(&plugins_dir)),
    };
    let mut settings = Settings {
        ws_addr: addr("ws-addr", layer.ws_addr, "127.0.0.1:4000")?,
        quic_addr: addr("quic-addr", layer.quic_addr, "127.0.0.1:4434")?,
        quic_cert: layer.quic_cert,
        quic_key: layer.quic_key,
        admin_addr: addr("admin-addr", layer.admin_addr, "127.0.0.1:9100")?,
        plugins_dir,
        auth: layer.auth.unwrap_or(AuthMode::Disabled),
        jwt_secret: layer.jwt_secret,
        jwt_public_key: layer.jwt_public_key,
        heartbeat_ms: at_least("heartbeat-ms", layer.heartbeat_ms.unwrap_or(15_000), 100)?,
        session_ttl_ms: layer.session_ttl_ms.unwrap_or(30_000),
        max_frame_bytes: at_least(
            "max-frame-bytes",
            layer.max_frame_bytes.unwrap_or(65_536),
            256,
        )?,
        rate_per_sec: at_least("rate-per-sec", layer.rate_per_sec.unwrap_or(100), 1)?,
        rate_burst: at_least("rate-burst", layer.rate_burst.unwrap_or(200), 1)?,
        outbox_capacity: at_least("outbox-capacity", layer.outbox_capacity.unwrap_or(1_000), 1)?,
        patch_history: at_least("patch-history", layer.patch_history.unwrap_or(256), 1)?,
        checksum_every: at_least("checksum-every", layer.checksum_every.unwrap_or(1), 1)?,
        room_grace_ms: layer.room_grace_ms.unwrap_or(10_000),
        unreliable_types: unreliable_types(layer.unreliable_types)?,
        plugin_memory_mb: plugin_memory(layer.plugin_memory_mb.unwrap_or(32))?,
        plugin_budget_ms: at_least("plugin-budget-ms", layer.plugin_budget_ms.unwrap_or(5), 1)?,
        plugin_max_errors: at_least(
            "plugin-max-errors",
            layer.plugin_max_errors.unwrap_or(10),
            1,
        )?,
        plugin_cache_dir,
        drain_timeout_ms: layer.drain_timeout_ms.unwrap_or(5_000),
        reservation_ttl_ms: layer.reservation_ttl_ms.unwrap_or(15_000),
        ticket_ttl_ms: layer.ticket_ttl_ms.unwrap_or(60_000),
        skill_window: layer.skill_window.unwrap_or(100.0).max(0.0),
        skill_window_growth: layer.skill_window_growth.unwrap_or(50.0).max(0.0),
        log: log_filter(layer.log.unwrap_or_else(|| "info".to_owned()))?,
        log_format: layer.log_format.unwrap_or(LogFormat::Text),
        jwt_public_key_pem: None,
        warnings: Vec::new(),
    };
    settings.check_auth()?;
    settings.check_quic()?;
    Ok(settings)
}

fn default_cache_dir(plugins_dir: &Path) -> PathBuf {
    match plugins_dir.parent() {
        Some(parent) => parent.join("plugin-cache"),
        None => PathBuf::from("plugin-cache"),
    }
}

fn addr(key: &'static str, value: Option<String>, default: &str) -> Result<SocketAddr, Error> {
    let value = value.unwrap_or_else(|| default.to_owned());
    parse_addr(&value).map_err(|reason| Error::Invalid { key, value, reason })
}

/// `HOST:PORT` with an IP or a resolvable host name (`localhost:4000`).
fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let example = "expected HOST:PORT, e.g. 127.0.0.1:4000 or [::1]:4000";
    if !value.contains(':') {
        return Err(example.to_owned());
    }
    match value.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| example.to_owned()),
        Err(e) => Err(format!("{example} ({e})")),
    }
}

fn at_least<T>(key: &'static str, value: T, min: T) -> Result<T, Error>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value < min {
        return Err(Error::Invalid {
            key,
            value: value.to_string(),
            reason: format!("must be at least {min}"),
        });
    }
    Ok(value)
}

fn plugin_memory(mb: u32) -> Result<u32, Error> {
    // A 32-bit WebAssembly memory cannot exceed 4 GiB.
    if !(1..=4096).contains(&mb) {
        return Err(Error::Invalid {
            key: "plugin-memory-mb",
            value: mb.to_string(),
            reason: "must be between 1 and 4096".to_owned(),
        });
    }
    Ok(mb)
}

fn unreliable_types(list: Option<Vec<String>>) -> Result<Vec<String>, Error> {
    let Some(list) = list else {
        return Ok(vec!["move".into(), "*.move".into(), "*.pos".into()]);
    };
    let mut out = Vec::new();
    for item in list {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let name = item.strip_prefix("*.").unwrap_or(item);
        if name.is_empty() || name.contains('*') {
            return Err(Error::Invalid {
                key: "unreliable-types",
                value: item.to_owned(),
                reason: "expected a message type or a `*.suffix` pattern".to_owned(),
            });
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

fn log_filter(filter: String) -> Result<String, Error> {
    match EnvFilter::builder().parse(&filter) {
        Ok(_) => Ok(filter),
        Err(e) => Err(Error::Invalid {
            key: "log",
            value: filter,
            reason: e.to_string(),
        }),
    }
}

impl Settings {
    /// Checks the auth settings (and reads the EdDSA key) by building the
    /// verifier the runtime will build, so a bad key fails here.
    fn check_auth(&mut self) -> Result<(), Error> {
        if self.auth == AuthMode::Disabled {
            if self.jwt_secret.is_some() || self.jwt_public_key.is_some() {
                self.warnings.push(
                    "a JWT secret or public key is set but --auth is `disabled`: tokens are not checked"
                        .to_owned(),
                );
            }
            return Ok(());
        }
        if self.jwt_secret.is_none() && self.jwt_public_key.is_none() {
            return Err(Error::JwtWithoutKey);
        }
        if let Some(path) = &self.jwt_public_key {
            let pem = fs::read_to_string(path).map_err(|source| Error::ReadKey {
                path: path.clone(),
                source,
            })?;
            self.jwt_public_key_pem = Some(pem);
        }
        Verifier::new(&self.auth_config()).map_err(Error::Auth)?;
        Ok(())
    }

    /// `--quic-cert` and `--quic-key` go together.
    fn check_quic(&self) -> Result<(), Error> {
        let (given, missing) = match (&self.quic_cert, &self.quic_key) {
            (Some(cert), None) => (cert, "quic-key"),
            (None, Some(key)) => (key, "quic-cert"),
            _ => return Ok(()),
        };
        Err(Error::Invalid {
            key: missing,
            value: String::new(),
            reason: format!(
                "--quic-cert and --quic-key go together ({} is set); \
                 give both, or neither for a generated self-signed certificate",
                given.display()
            ),
        })
    }

    fn auth_config(&self) -> AuthConfig {
        match self.auth {
            AuthMode::Disabled => AuthConfig::Disabled,
            AuthMode::Jwt => AuthConfig::Jwt(JwtConfig {
                hs256_secret: self.jwt_secret.as_ref().map(|s| s.as_bytes().to_vec()),
                eddsa_public_key_pem: self.jwt_public_key_pem.clone(),
                ..JwtConfig::default()
            }),
        }
    }

    /// The runtime configuration these settings describe.
    pub(crate) fn runtime_config(&self) -> RuntimeConfig {
        let defaults = RuntimeConfig::default();
        let mut host = HostConfig {
            cache_dir: self.plugin_cache_dir.clone(),
            ..HostConfig::default()
        };
        host.limits.memory_bytes = (self.plugin_memory_mb as usize) << 20;
        host.limits.hook_budget = Duration::from_millis(self.plugin_budget_ms);
        host.limits.max_errors = self.plugin_max_errors;
        RuntimeConfig {
            session: SessionConfig {
                auth: self.auth_config(),
                heartbeat: Duration::from_millis(self.heartbeat_ms),
                session_ttl: Duration::from_millis(self.session_ttl_ms),
                rate_per_sec: self.rate_per_sec,
                rate_burst: self.rate_burst,
                ..defaults.session
            },
            limits: Limits {
                max_frame_bytes: self.max_frame_bytes,
                ..defaults.limits
            },
            outbox_capacity: self.outbox_capacity,
            patch_history: self.patch_history,
            checksum_every: self.checksum_every,
            empty_room_grace: Duration::from_millis(self.room_grace_ms),
            unreliable_types: self.unreliable_types.clone(),
            plugins_dir: self.plugins_dir.clone(),
            host,
            quic: None,
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            matchmaker: MatchmakerConfig {
                default_rules: QueueRules {
                    skill_window: self.skill_window,
                    skill_window_growth_per_sec: self.skill_window_growth,
                    ticket_ttl: Duration::from_millis(self.ticket_ttl_ms),
                    ..QueueRules::default()
                },
                ..MatchmakerConfig::default()
            },
            reservation_ttl: Duration::from_millis(self.reservation_ttl_ms),
        }
    }

    /// The settings as a TOML file (the JWT secret redacted).
    pub(crate) fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::Print(e.to_string()))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
