//! Runtime settings: everything the server binary hands the runtime.

use std::path::PathBuf;
use std::time::Duration;

use arbiter_matchmaker::MatchmakerConfig;
use arbiter_plugin_host::HostConfig;
use arbiter_protocol::{Limits, QuicInfo};
use arbiter_session::SessionConfig;

/// The runtime's configuration. `Default` is what a local development server uses.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Handshake, auth, resume, heartbeat and rate-limit policy.
    pub session: SessionConfig,
    /// Decoding limits for client frames (PROTOCOL.md §9: 64 KiB frames).
    pub limits: Limits,
    /// Pending outbound frames per session before a reliable overflow suspends
    /// it (default 1,000).
    pub outbox_capacity: usize,
    /// Patches whose checksums a room keeps for `state.ack` checks (default
    /// 256); replay keeps fewer patches (see `arbiter_room::RoomConfig`).
    pub patch_history: usize,
    /// A patch carries a checksum at least every this many patches (default 1).
    pub checksum_every: u32,
    /// How long an empty room lives before it is disposed (default 10 s).
    pub empty_room_grace: Duration,
    /// `room.message` types with unreliable intent: exact names, or `*.suffix`
    /// patterns (default `move`, `*.move`, `*.pos`).
    pub unreliable_types: Vec<String>,
    /// Directory of `<room_type>.wasm` plugins.
    pub plugins_dir: PathBuf,
    /// The plugin host's limits, budget mode and module cache.
    pub host: HostConfig,
    /// What `handshake.ok` announces about the QUIC listener, when there is one.
    pub quic: Option<QuicInfo>,
    /// How long a graceful drain waits for outboxes to flush.
    pub drain_timeout: Duration,
    /// Matching rules (skill windows, ticket TTL) per room type.
    pub matchmaker: MatchmakerConfig,
    /// How long a matched player's seat is held for it (default 15 s).
    pub reservation_ttl: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            limits: Limits::default(),
            outbox_capacity: 1_000,
            patch_history: 256,
            checksum_every: 1,
            empty_room_grace: Duration::from_secs(10),
            unreliable_types: vec!["move".into(), "*.move".into(), "*.pos".into()],
            plugins_dir: PathBuf::from("target/plugins"),
            host: HostConfig::default(),
            quic: None,
            drain_timeout: Duration::from_secs(5),
            matchmaker: MatchmakerConfig::default(),
            reservation_ttl: Duration::from_secs(15),
        }
    }
}
