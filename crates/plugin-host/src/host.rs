//! [`PluginHost`] (the engine, linker, epoch ticker and cache, shared by all
//! plugins) and [`Plugin`] (one compiled, validated, pre-linked module).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Engine, InstancePre, Linker, Module};

use crate::cache::{ModuleCache, ModuleSource};
use crate::config::HostConfig;
use crate::engine::{Activity, EpochTicker, build_engine};
use crate::error::{PluginError, boxed};
use crate::imports::{HostState, linker};
use crate::instance::RoomPlugin;
use crate::loader::validate;

/// State shared by the host, its plugins and their rooms. The epoch ticker lives
/// as long as any of them, so a room never runs without a deadline.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: HostConfig,
    pub(crate) cache: Option<ModuleCache>,
    /// Fuel granted per hook (fuel modes).
    pub(crate) fuel_per_hook: u64,
    /// Hooks tell the epoch ticker they run (it slows down when idle).
    pub(crate) activity: Arc<Activity>,
    _ticker: Option<EpochTicker>,
}

/// The plugin runtime: one wasmtime engine for every plugin and room.
///
/// Cheap to clone (an `Arc`); `Send + Sync`. Create one per process.
#[derive(Clone)]
pub struct PluginHost {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Builds the engine, the linker and (for epoch budgets) starts the ticker.
    pub fn new(config: HostConfig) -> Result<Self, PluginError> {
        let engine = build_engine(&config)?;
        let linker = linker(&engine)?;
        let activity = Arc::new(Activity::default());
        let ticker = if config.budget.uses_epoch() {
            Some(EpochTicker::start(
                &engine,
                config.epoch_tick,
                activity.clone(),
            )?)
        } else {
            None
        };
        let budget_ms = config.limits.hook_budget.as_secs_f64() * 1000.0;
        let fuel_per_hook = (budget_ms * config.fuel_per_ms as f64).max(1.0) as u64;
        let shared = Shared {
            fuel_per_hook,
            activity,
            cache: config.cache_dir.clone().map(ModuleCache::new),
            engine,
            linker,
            config,
            _ticker: ticker,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The configuration the host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Compiles (or reads from the cache), validates and pre-links `wasm` as the
    /// plugin of `room_type`.
    pub fn load(&self, room_type: &str, wasm: &[u8]) -> Result<Plugin, PluginError> {
        let shared = &self.shared;
        let started = Instant::now();
        let cached = shared
            .cache
            .as_ref()
            .and_then(|c| c.get(&shared.engine, wasm));
        let (module, source) = match cached {
            Some(m) => (m, ModuleSource::Cache),
            None => {
                let m =
                    Module::new(&shared.engine, wasm).map_err(|e| PluginError::InvalidModule {
                        plugin: room_type.to_string(),
                        source: boxed(e),
                    })?;
                (m, ModuleSource::Compiled)
            }
        };
        validate(room_type, &module, &shared.config.limits)?;
        // Only valid plugins are cached.
        if source == ModuleSource::Compiled
            && let Some(cache) = &shared.cache
        {
            cache.put(&shared.engine, wasm, &module);
        }
        let pre =
            shared
                .linker
                .instantiate_pre(&module)
                .map_err(|e| PluginError::InvalidModule {
                    plugin: room_type.to_string(),
                    source: boxed(e),
                })?;
        tracing::info!(
            room_type,
            ?source,
            bytes = wasm.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plugin loaded"
        );
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                shared: self.shared.clone(),
                room_type: room_type.into(),
                pre,
                source,
            }),
        })
    }

    /// Reads `path` and loads it as the plugin of `room_type`.
    pub fn load_file(&self, room_type: &str, path: &Path) -> Result<Plugin, PluginError> {
        let wasm = std::fs::read(path).map_err(|source| PluginError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.load(room_type, &wasm)
    }
}

pub(crate) struct PluginInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) room_type: Arc<str>,
    pub(crate) pre: InstancePre<HostState>,
    source: ModuleSource,
}

/// One loaded room type: a compiled, validated module, pre-linked against the
/// host imports. Cheap to clone; instantiate it once per room.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("room_type", &self.inner.room_type)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The room type this plugin implements.
    pub fn room_type(&self) -> &str {
        &self.inner.room_type
    }

    /// Whether the module was compiled now or read from the cache.
    pub fn source(&self) -> ModuleSource {
        self.inner.source
    }

    /// Creates the long-lived instance of one room. `seed` seeds the room's
    /// `random_u64` generator (choose it per room; record it to replay a room).
    /// Runs no hook: call [`RoomPlugin::create`] next.
    pub fn instantiate(&self, room: &str, seed: u64) -> Result<RoomPlugin, PluginError> {
        RoomPlugin::new(self.clone(), room, seed)
    }
}
