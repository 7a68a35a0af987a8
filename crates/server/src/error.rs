//! The binary's one error type. [`Error::exit_code`] sorts it: settings that
//! cannot work exit with 2 (like clap's usage errors), failures after the
//! settings were accepted exit with 1.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server did not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The `--config` file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has an unknown key or a wrong type.
    #[error("invalid config file {}: {message}", path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (it names the key and line).
        message: String,
    },
    /// One setting has a value that cannot work.
    #[error("invalid --{key} `{value}`: {reason}")]
    Invalid {
        /// The flag name without `--`.
        key: &'static str,
        /// The rejected value.
        value: String,
        /// What is expected instead.
        reason: String,
    },
    /// `--auth jwt` without any key to verify tokens with.
    #[error(
        "--auth jwt needs a key: set --jwt-secret (ARBITER_JWT_SECRET) for HS256 \
         or --jwt-public-key (ARBITER_JWT_PUBLIC_KEY) for an EdDSA public key PEM file"
    )]
    JwtWithoutKey,
    /// The `--jwt-public-key` file cannot be read.
    #[error("cannot read --jwt-public-key {}: {source}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The session layer refused the auth settings (empty secret, bad PEM).
    #[error("invalid auth settings: {0}")]
    Auth(arbiter_session::SessionError),
    /// The effective settings could not be printed as TOML.
    #[error("cannot print the settings: {0}")]
    Print(String),
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener (`ws`, `admin`).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The QUIC listener could not start: its certificate or key (exit 2),
    /// or its UDP socket (exit 1).
    #[error("QUIC listener: {0}")]
    Quic(arbiter_gateway::QuicError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The runtime refused to start (plugins directory, a plugin, auth keys).
    #[error("cannot start the runtime: {0}")]
    Runtime(String),
    /// A listener's accept loop failed.
    #[error("the {what} listener failed: {source}")]
    Serve {
        /// Which listener (`ws`, `admin`).
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A second SIGINT/SIGTERM arrived while draining.
    #[error("interrupted again while draining; exiting without waiting")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error: 2 for a configuration the server
    /// refuses, 1 for everything else.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::ReadFile { .. }
            | Error::ParseFile { .. }
            | Error::Invalid { .. }
            | Error::JwtWithoutKey
            | Error::ReadKey { .. }
            | Error::Auth(_) => 2,
            Error::Quic(e) => match e {
                arbiter_gateway::QuicError::Bind { .. } => 1,
                _ => 2,
            },
            Error::Print(_)
            | Error::AsyncRuntime(_)
            | Error::Bind { .. }
            | Error::Signals(_)
            | Error::Runtime(_)
            | Error::Serve { .. }
            | Error::Interrupted => 1,
        }
    }
}
