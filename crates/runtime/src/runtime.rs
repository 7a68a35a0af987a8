//! The runtime: what a server process holds (plugins, rooms, sessions,
//! metrics), and its start and graceful drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbiter_plugin_host::{PluginHost, PluginRegistry};
use arbiter_room::RoomConfig;
use arbiter_session::Verifier;

use crate::config::RuntimeConfig;
use crate::directory::{Directory, RoomSummary};
use crate::error::RuntimeError;
use crate::matchmaking::Matchmaking;
use crate::metrics::Metrics;
use crate::room_actor::RoomCmd;
use crate::session::Registry;

/// `room.closed`'s reason when the server drains.
pub(crate) const DRAIN_REASON: &str = "the server is shutting down";

/// A running server's shared state. Cheap to share as `Arc<Runtime>`; the
/// gateway hands it every accepted connection.
pub struct Runtime {
    pub(crate) config: RuntimeConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) verifier: Verifier,
    pub(crate) plugins: PluginRegistry,
    pub(crate) room_config: RoomConfig,
    pub(crate) directory: Directory,
    pub(crate) sessions: Registry,
    pub(crate) matchmaking: Matchmaking,
    draining: AtomicBool,
    // Kept alive for the plugins' engine (epoch ticker, module cache).
    _host: PluginHost,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("room_types", &self.room_types())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

/// Unix time in milliseconds (what plugins and `pong` see).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Runtime {
    /// Loads every `<room_type>.wasm` of `config.plugins_dir` and gets ready
    /// to serve connections. Call it inside a tokio runtime.
    pub fn start(
        config: RuntimeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let verifier = Verifier::new(&config.session.auth).map_err(RuntimeError::Auth)?;
        let host = PluginHost::new(config.host.clone()).map_err(RuntimeError::Host)?;
        let plugins = PluginRegistry::load_dir(&host, &config.plugins_dir).map_err(|source| {
            RuntimeError::Plugins {
                dir: config.plugins_dir.clone(),
                source,
            }
        })?;
        let room_config = RoomConfig {
            patch_history: config.patch_history,
            checksum_every: config.checksum_every,
            // A replay must fit in the outbox with room to spare.
            max_replay: (config.outbox_capacity / 2).clamp(1, 64),
            max_errors: config.host.limits.max_errors,
            unreliable_types: config.unreliable_types.clone(),
        };
        let matchmaking = Matchmaking::new(config.matchmaker.clone(), &plugins);
        let rt = Arc::new(Runtime {
            config,
            metrics,
            verifier,
            plugins,
            room_config,
            directory: Directory::default(),
            sessions: Registry::default(),
            matchmaking,
            draining: AtomicBool::new(false),
            _host: host,
        });
        crate::matchmaking::spawn(&rt);
        Ok(rt)
    }

    /// The metrics every part of the runtime records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The room types of the loaded plugins, sorted.
    pub fn room_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.plugins.room_types().map(str::to_owned).collect();
        types.sort();
        types
    }

    /// Every live room, for the admin API.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        self.directory.summaries()
    }

    /// True once [`Runtime::drain`] started: new handshakes and joins are refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Graceful drain: refuse new sessions and joins, close every room (its
    /// members get `room.closed`), then let outboxes flush, for at most the
    /// configured drain timeout.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + self.config.drain_timeout;
        for handle in self.directory.handles() {
            let cmd = RoomCmd::Close {
                reason: DRAIN_REASON.to_owned(),
            };
            let _ = tokio::time::timeout_at(deadline, handle.tx.send(cmd)).await;
        }
        let step = Duration::from_millis(10);
        while !self.directory.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(step).await;
        }
        let sessions = self.sessions.all();
        for session in &sessions {
            session.outbox.close_when_flushed();
        }
        while sessions.iter().any(|s| !s.outbox.is_drained())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(step).await;
        }
    }
}
