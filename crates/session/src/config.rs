//! Session settings (PROTOCOL.md §3, §9), fixed when the server starts.

use std::time::Duration;

/// Everything the session layer needs to know about the server's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// How the handshake's `token` is checked.
    pub auth: AuthConfig,
    /// Heartbeat period announced in `handshake.ok`; a session with no traffic
    /// for twice this long is suspended (default 15 s).
    pub heartbeat: Duration,
    /// How long a suspended session can be resumed (default 30 s).
    pub session_ttl: Duration,
    /// Sustained inbound frames per second per session (default 100).
    pub rate_per_sec: u32,
    /// Inbound burst per session (default 200).
    pub rate_burst: u32,
    /// `protocol.*` errors a session may cause before it is closed (default 20).
    pub max_protocol_errors: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            auth: AuthConfig::Disabled,
            heartbeat: Duration::from_millis(15_000),
            session_ttl: Duration::from_secs(30),
            rate_per_sec: 100,
            rate_burst: 200,
            max_protocol_errors: 20,
        }
    }
}

/// Auth mode (PROTOCOL.md §3).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AuthConfig {
    /// Any token, any `project_id` (local development).
    #[default]
    Disabled,
    /// The token must be a JWT signed with one of these keys.
    Jwt(JwtConfig),
}

/// JWT verification keys and tolerance. At least one key must be set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JwtConfig {
    /// HS256 shared secret.
    pub hs256_secret: Option<Vec<u8>>,
    /// EdDSA (Ed25519) public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub eddsa_public_key_pem: Option<String>,
    /// Clock skew tolerated on `exp`, in seconds (default 0).
    pub leeway_secs: u64,
}
