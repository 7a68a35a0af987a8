//! Host configuration: per-room limits, how hooks are stopped, memory layout,
//! the compiled-module cache and plugin logging.
//!
//! Every field has a default suited to a server running thousands of small
//! rooms; `docs/plugin-host.md` explains each one for operators.

use std::path::PathBuf;
use std::time::Duration;

/// Everything a [`crate::PluginHost`] needs to know, fixed when it is created.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// Limits applied to every room instance.
    pub limits: Limits,
    /// How a hook that runs too long is stopped.
    pub budget: BudgetMode,
    /// Period of the epoch ticker thread (epoch modes only). The cut-off lands
    /// between `hook_budget` and `hook_budget + epoch_tick` after the call starts.
    pub epoch_tick: Duration,
    /// Fuel units granted per millisecond of `hook_budget` (fuel modes only).
    /// Fuel counts WebAssembly operators, not time; the default was measured on
    /// the reference plugins' hot loops (see `docs/plugin-host.md`).
    pub fuel_per_ms: u64,
    /// Virtual-memory layout of each room's linear memory.
    pub memory: MemoryStrategy,
    /// How instance resources (memories, tables) are allocated.
    pub allocation: AllocationStrategy,
    /// Native stack available to WebAssembly code per hook call, in bytes.
    /// Deeper recursion traps with a stack-overflow trap.
    pub max_wasm_stack: usize,
    /// Directory of compiled modules, so a restart does not recompile.
    /// `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Plugin `log` import: truncation and rate limit.
    pub log: LogLimits,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            budget: BudgetMode::Epoch,
            epoch_tick: Duration::from_millis(1),
            fuel_per_ms: DEFAULT_FUEL_PER_MS,
            memory: MemoryStrategy::Guarded,
            allocation: AllocationStrategy::OnDemand,
            max_wasm_stack: 512 * 1024,
            cache_dir: Some(PathBuf::from("target/plugin-cache")),
            log: LogLimits::default(),
        }
    }
}

/// Fuel per millisecond used when none is configured: what the reference arena
/// plugin burns per millisecond of hook time (host crossing included) on the
/// x86-64 server the figures in `docs/plugin-host.md` come from. Tight loops
/// burn 2–3× faster, so they are cut proportionally sooner.
pub const DEFAULT_FUEL_PER_MS: u64 = 8_000_000;

/// Per-room limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory a room's instance may have, in bytes (default 32 MiB).
    pub memory_bytes: usize,
    /// Execution budget of one hook call, input copy included (default 5 ms).
    pub hook_budget: Duration,
    /// Largest number of elements of any table (default 20,000).
    pub table_elements: usize,
    /// Number of tables an instance may define (default 1).
    pub tables: usize,
    /// Largest hook output accepted, in bytes (default 4 MiB). Decoding can use
    /// up to ~32× this in host memory for a pathological output.
    pub max_output_bytes: usize,
    /// Errors after which [`crate::RoomPlugin::error_budget_exceeded`] turns true
    /// (default 10, counted over the room's life).
    pub max_errors: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 32 << 20,
            hook_budget: Duration::from_millis(5),
            table_elements: 20_000,
            tables: 1,
            max_output_bytes: 4 << 20,
            max_errors: 10,
        }
    }
}

/// How a hook that runs past its budget is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetMode {
    /// Wall-clock deadline checked at loop heads and function entries, driven by
    /// a ticker thread that bumps the engine epoch every `epoch_tick`. Cheapest
    /// checks; the cut-off is time-based, so not reproducible.
    Epoch,
    /// Deterministic operator counting: the same input always stops at the same
    /// instruction. Costs more per instruction and is not time.
    Fuel,
    /// Both: fuel for a reproducible cut-off, the epoch deadline as a wall-clock
    /// backstop (e.g. for host calls that are slow per unit of fuel).
    EpochAndFuel,
}

impl BudgetMode {
    /// Whether the engine compiles epoch checks.
    pub fn uses_epoch(self) -> bool {
        matches!(self, Self::Epoch | Self::EpochAndFuel)
    }

    /// Whether the engine compiles fuel counting.
    pub fn uses_fuel(self) -> bool {
        matches!(self, Self::Fuel | Self::EpochAndFuel)
    }
}

/// Virtual-memory layout of linear memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryStrategy {
    /// wasmtime's default on 64-bit hosts: each memory reserves 4 GiB of address
    /// space plus a 32 MiB guard region, so compiled code needs no bounds checks.
    /// Address space only (not RAM): ~24,000 rooms fit in x86-64's 128 TiB.
    Guarded,
    /// Reserve exactly `memory_bytes` (plus a 64 KiB guard) per memory: compiled
    /// code performs explicit bounds checks, but a room costs ~32 MiB of address
    /// space instead of ~4 GiB. For hosts with address-space limits
    /// (`ulimit -v`, many tens of thousands of rooms).
    Compact,
}

/// How instance resources are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationStrategy {
    /// mmap per instance when a room starts, unmap when it ends. No fixed cap.
    OnDemand,
    /// Pre-reserve slots for at most `max_rooms` live instances (restores
    /// included) and recycle them: faster instantiation, but a hard cap on
    /// concurrent rooms and all address space reserved up front.
    Pooling {
        /// Maximum live instances.
        max_rooms: u32,
    },
}

/// Limits of the plugin `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Longest line kept, in bytes; the rest is cut (default 1 KiB).
    pub max_line_bytes: usize,
    /// Lines a room may log in a burst (default 50).
    pub burst: u32,
    /// Sustained lines per second per room (default 20). Excess lines are
    /// dropped and counted; the count is logged with the next admitted line.
    pub per_second: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 1024,
            burst: 50,
            per_second: 20,
        }
    }
}
