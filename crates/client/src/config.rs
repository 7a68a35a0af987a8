//! [`ClientConfig`]: where to connect and how the client behaves.

use std::time::Duration;

use arbiter_protocol::Codec;

/// When the client sends `ping` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Heartbeat {
    /// Every `heartbeat_ms / 2`, as announced in `handshake.ok`.
    #[default]
    Auto,
    /// At a fixed interval, whatever the server announced.
    Every(Duration),
    /// Never (to test that the server suspends silent sessions).
    Off,
}

impl Heartbeat {
    /// The ping interval for a server that announced `heartbeat_ms`; `None`
    /// when pings are off. Never shorter than 10 ms.
    pub fn interval(self, heartbeat_ms: u32) -> Option<Duration> {
        let every = match self {
            Heartbeat::Auto => Duration::from_millis(u64::from(heartbeat_ms / 2)),
            Heartbeat::Every(every) => every,
            Heartbeat::Off => return None,
        };
        Some(every.max(Duration::from_millis(10)))
    }
}

/// Which transport carries the session's reliable frames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Transport {
    /// WebSocket to [`ClientConfig::url`]. Unreliable frames go over it too,
    /// unless a QUIC connection is attached ([`crate::Client::attach_quic`]).
    #[default]
    WebSocket,
    /// A QUIC-only session: the first bidirectional stream carries the
    /// reliable frames, datagrams the unreliable ones. `url` is not used.
    Quic(QuicTarget),
}

/// Where a QUIC connection goes and how its certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicTarget {
    /// `HOST:PORT` of the server's QUIC listener (UDP).
    pub addr: String,
    /// The TLS server name (SNI, and what a CA-issued certificate must name);
    /// default: the host part of `addr`.
    pub server_name: Option<String>,
    /// How the server's certificate is checked.
    pub trust: QuicTrust,
}

impl QuicTarget {
    /// `addr`, trusted by `trust`, server name from `addr`.
    pub fn new(addr: impl Into<String>, trust: QuicTrust) -> QuicTarget {
        QuicTarget {
            addr: addr.into(),
            server_name: None,
            trust,
        }
    }
}

/// How a QUIC client trusts the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicTrust {
    /// Accept exactly the certificate whose DER has this SHA-256 (hex, as in
    /// `handshake.ok`'s `quic.cert_sha256`; case and `:` separators are
    /// ignored). Names and dates are not checked: the pin is the trust.
    Sha256(String),
    /// Verify the chain against these PEM CA certificates, and the server
    /// name, as for HTTPS.
    CaPem(String),
}

/// How to connect, and how the client behaves once connected.
///
/// Build it with [`ClientConfig::new`] and the `with_*` methods, or set the
/// public fields directly.
///
/// ```
/// use arbiter_client::ClientConfig;
/// use arbiter_protocol::Codec;
///
/// let config = ClientConfig::new("ws://127.0.0.1:4000/", "demo")
///     .with_token("secret-jwt")
///     .with_codecs(vec![Codec::Json]);
/// assert!(config.auto_resume);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The server's WebSocket URL, `ws://HOST:PORT/` (path `/` or `/ws`).
    pub url: String,
    /// The project the session belongs to.
    pub project_id: String,
    /// The auth token (a JWT when the server runs `--auth jwt`).
    pub token: Option<String>,
    /// Codecs offered in the handshake, preferred first. Default
    /// `[MsgPack, Json]`.
    pub codecs: Vec<Codec>,
    /// Reconnect and resume the session when the transport drops (not after
    /// [`crate::Client::close`]). Default `true`.
    pub auto_resume: bool,
    /// How long reconnection attempts may take in total before the client
    /// gives up and closes. Default 10 s.
    pub resume_window: Duration,
    /// Send `state.ack` after this many applied patches per room (and after
    /// every snapshot); 0 never acks. Default 1.
    pub ack_every: u32,
    /// When to send `ping`. Default [`Heartbeat::Auto`].
    pub heartbeat: Heartbeat,
    /// Bound on one connection attempt (TCP, WebSocket upgrade, handshake).
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Bound on waiting for a request's answer (and, for
    /// [`crate::Client::join_or_create`], the room's first snapshot). Default 10 s.
    pub request_timeout: Duration,
    /// Report [`crate::Event::Snapshot`] and [`crate::Event::Patch`]. Load
    /// generators that never read them turn this off so that the event queue
    /// does not grow. Default `true`.
    pub state_events: bool,
    /// The transport of the reliable path. Default [`Transport::WebSocket`].
    pub transport: Transport,
    /// `room.message` types sent as datagrams when a QUIC path exists and the
    /// frame fits: exact names or `*.suffix` patterns. Default `move`,
    /// `*.move`, `*.pos` (the server's default list).
    pub unreliable_types: Vec<String>,
    /// For tests of packet loss: drop every Nth outbound datagram on purpose
    /// (2 = every other one); 0 never. Default 0.
    pub datagram_drop_every: u32,
}

impl ClientConfig {
    /// A configuration with every default, for `url` and `project_id`.
    pub fn new(url: impl Into<String>, project_id: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            project_id: project_id.into(),
            token: None,
            codecs: vec![Codec::MsgPack, Codec::Json],
            auto_resume: true,
            resume_window: Duration::from_secs(10),
            ack_every: 1,
            heartbeat: Heartbeat::Auto,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            state_events: true,
            transport: Transport::WebSocket,
            unreliable_types: vec!["move".into(), "*.move".into(), "*.pos".into()],
            datagram_drop_every: 0,
        }
    }

    /// A QUIC-only session to `addr` (`HOST:PORT`, UDP), trusted by `trust`.
    /// `url` is kept but not used.
    pub fn with_quic(mut self, addr: impl Into<String>, trust: QuicTrust) -> ClientConfig {
        self.transport = Transport::Quic(QuicTarget::new(addr, trust));
        self
    }

    /// Sets the `room.message` types sent as datagrams (names or `*.suffix`).
    pub fn with_unreliable_types(mut self, types: Vec<String>) -> ClientConfig {
        self.unreliable_types = types;
        self
    }

    /// Drops every `n`th outbound datagram on purpose (tests of loss); 0 never.
    pub fn with_datagram_drop_every(mut self, n: u32) -> ClientConfig {
        self.datagram_drop_every = n;
        self
    }

    /// Whether `room.message` type `kind` has unreliable intent under
    /// [`ClientConfig::unreliable_types`].
    pub fn is_unreliable(&self, kind: &str) -> bool {
        self.unreliable_types
            .iter()
            .any(|pattern| match pattern.strip_prefix('*') {
                Some(suffix) => kind.len() > suffix.len() && kind.ends_with(suffix),
                None => pattern == kind,
            })
    }

    /// Sets the auth token.
    pub fn with_token(mut self, token: impl Into<String>) -> ClientConfig {
        self.token = Some(token.into());
        self
    }

    /// Sets the codecs offered, preferred first.
    pub fn with_codecs(mut self, codecs: Vec<Codec>) -> ClientConfig {
        self.codecs = codecs;
        self
    }

    /// Turns automatic resume on or off.
    pub fn with_auto_resume(mut self, auto_resume: bool) -> ClientConfig {
        self.auto_resume = auto_resume;
        self
    }

    /// Sets how many patches per room are applied between two `state.ack`s.
    pub fn with_ack_every(mut self, ack_every: u32) -> ClientConfig {
        self.ack_every = ack_every;
        self
    }

    /// Sets when pings are sent.
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> ClientConfig {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets the bound on waiting for a request's answer.
    pub fn with_request_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.request_timeout = timeout;
        self
    }
}

impl Default for ClientConfig {
    /// `ws://127.0.0.1:4000/`, project `demo`.
    fn default() -> ClientConfig {
        ClientConfig::new("ws://127.0.0.1:4000/", "demo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_interval_follows_the_server_unless_overridden() {
        assert_eq!(
            Heartbeat::Auto.interval(15_000),
            Some(Duration::from_millis(7_500))
        );
        assert_eq!(Heartbeat::Auto.interval(0), Some(Duration::from_millis(10)));
        assert_eq!(
            Heartbeat::Every(Duration::from_secs(1)).interval(15_000),
            Some(Duration::from_secs(1))
        );
        assert_eq!(Heartbeat::Off.interval(15_000), None);
    }

    #[test]
    fn unreliable_types_match_names_and_suffixes() {
        let config = ClientConfig::default();
        assert!(config.is_unreliable("move"));
        assert!(config.is_unreliable("ship.move"));
        assert!(config.is_unreliable("cursor.pos"));
        assert!(
            !config.is_unreliable(".move"),
            "a suffix needs a name before it"
        );
        assert!(!config.is_unreliable("moved"));
        assert!(!config.is_unreliable("chat"));
        let config = config.with_unreliable_types(vec!["aim".into()]);
        assert!(config.is_unreliable("aim"));
        assert!(!config.is_unreliable("move"));
    }
}
