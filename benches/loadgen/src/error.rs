//! [`LoadgenError`]: everything that stops a load-generator run or the floor.

/// Why a run (or the floor server) could not go on.
///
/// Failures of single clients during a run are not errors of the run: they
/// are counted in the report (`errors`, `disconnects`).
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// An option is missing, malformed or contradicts another.
    #[error("invalid option: {0}")]
    Options(String),
    /// The target is not a loopback address and `--allow-remote` was not given.
    #[error(
        "refusing to load {0}: it is not a loopback address (pass --allow-remote to load a remote server you own)"
    )]
    Remote(String),
    /// A transport this build cannot drive yet.
    #[error("{0}")]
    Unsupported(String),
    /// A socket, process or file operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket layer failed (upgrade, framing, closed connection).
    #[error("WebSocket: {0}")]
    Ws(String),
    /// The QUIC layer failed (connect, stream, datagram).
    #[error("QUIC: {0}")]
    Quic(String),
    /// The server sent something the load generator did not expect.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server answered with an error code.
    #[error("server refused: {code}: {reason}")]
    Refused {
        /// The wire error code.
        code: String,
        /// The server's reason.
        reason: String,
    },
    /// A step did not finish in time.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// The server process could not be started or did not report its address.
    #[error("spawning the server: {0}")]
    Spawn(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for LoadgenError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> LoadgenError {
        LoadgenError::Ws(e.to_string())
    }
}

/// The result type of this crate.
pub type Result<T, E = LoadgenError> = std::result::Result<T, E>;
