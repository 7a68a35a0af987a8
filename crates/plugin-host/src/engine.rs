//! The one wasmtime [`Engine`] and the epoch ticker thread that drives deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Config, Engine, EngineWeak, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    Strategy, WasmFeatures,
};

use crate::config::{AllocationStrategy, HostConfig, MemoryStrategy};
use crate::error::{PluginError, boxed};

/// Guard region after each memory in [`MemoryStrategy::Compact`].
const COMPACT_GUARD: u64 = 64 * 1024;

/// WebAssembly features plugins may use: the 2.0 spec (bulk memory, reference
/// types, multi-value, sign extension, saturating conversions, SIMD), which is
/// what `wasm32-unknown-unknown` emits. Everything else is refused at load:
/// threads and shared memory (nondeterminism), memory64 and multi-memory (the
/// ABI has one 32-bit memory), GC, exceptions, relaxed SIMD (nondeterministic),
/// stack switching, the component model.
fn plugin_features() -> WasmFeatures {
    // GC_TYPES is a wasmparser pseudo-feature that needs wasmtime's `gc` feature,
    // which this build does not have.
    WasmFeatures::WASM2 - WasmFeatures::GC_TYPES
}

/// Builds the engine configuration from the host configuration.
pub(crate) fn engine_config(cfg: &HostConfig) -> Result<Config, PluginError> {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_features(WasmFeatures::all(), false)
        .wasm_features(plugin_features(), true)
        .epoch_interruption(cfg.budget.uses_epoch())
        .consume_fuel(cfg.budget.uses_fuel())
        .max_wasm_stack(cfg.max_wasm_stack)
        .parallel_compilation(true);
    let memory_bytes = cfg.limits.memory_bytes as u64;
    if cfg.memory == MemoryStrategy::Compact {
        // Round up to whole 64 KiB pages; the memory never moves, so the base
        // pointer stays in a register and bounds checks compare with a constant.
        let reservation = memory_bytes.div_ceil(65536) * 65536;
        c.memory_reservation(reservation)
            .memory_guard_size(COMPACT_GUARD)
            .memory_reservation_for_growth(0)
            .memory_may_move(false);
    }
    if let AllocationStrategy::Pooling { max_rooms } = cfg.allocation {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(max_rooms)
            .total_memories(max_rooms)
            .total_tables(max_rooms.saturating_mul(cfg.limits.tables as u32))
            .total_component_instances(0)
            .max_memory_size(cfg.limits.memory_bytes)
            .table_elements(cfg.limits.table_elements)
            .max_tables_per_module(cfg.limits.tables as u32)
            .max_memories_per_module(1)
            // Keep a few pages of each freed memory resident to make the
            // next instantiation cheaper without holding much RSS.
            .linear_memory_keep_resident(64 * 1024)
            .table_keep_resident(4096);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(c)
}

/// Builds the engine.
pub(crate) fn build_engine(cfg: &HostConfig) -> Result<Engine, PluginError> {
    let c = engine_config(cfg)?;
    Engine::new(&c).map_err(|e| PluginError::Setup { source: boxed(e) })
}

/// After this long without any hook, the ticker slows down.
const IDLE_AFTER: Duration = Duration::from_millis(100);

/// Tick period while idle, as a multiple of the normal tick.
const IDLE_FACTOR: u32 = 10;

/// A thread that increments the engine epoch every tick, stopped and joined on drop.
///
/// Waking up every millisecond costs a few percent of a core on some virtual
/// machines, so after [`IDLE_AFTER`] without a hook (no [`Activity::mark`]) it
/// ticks [`IDLE_FACTOR`] times slower, and returns to full speed at the first
/// slow tick that sees a hook. It holds only a weak engine handle, so it never
/// keeps the engine alive.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// "A hook started recently", set by hooks and cleared by the ticker.
#[derive(Debug, Default)]
pub(crate) struct Activity(AtomicBool);

impl Activity {
    /// Records that a hook starts. A load first, so that a busy server does
    /// not write the shared cache line on every hook.
    pub(crate) fn mark(&self) {
        if !self.0.load(Ordering::Relaxed) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

impl EpochTicker {
    /// Starts the ticker.
    pub(crate) fn start(
        engine: &Engine,
        tick: Duration,
        activity: Arc<Activity>,
    ) -> Result<Self, PluginError> {
        let weak: EngineWeak = engine.weak();
        let (stop, rx) = mpsc::channel::<()>();
        let tick = tick.max(Duration::from_micros(100));
        let window = (IDLE_AFTER.as_nanos() / tick.as_nanos()).max(1) as u64;
        let thread = std::thread::Builder::new()
            .name("arbiter-epoch".into())
            .spawn(move || {
                let (mut idle, mut n) = (false, 0u64);
                // `recv_timeout` doubles as the sleep: a drop of the sender wakes
                // the thread at once.
                loop {
                    let period = if idle { tick * IDLE_FACTOR } else { tick };
                    if !matches!(
                        rx.recv_timeout(period),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    ) {
                        break;
                    }
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                    n += 1;
                    if idle || n % window == 0 {
                        idle = !activity.take();
                    }
                }
            })
            .map_err(|e| PluginError::Setup {
                source: Box::new(e),
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and increments an atomic; it cannot panic.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BudgetMode;

    #[test]
    fn every_configuration_builds() {
        for budget in [
            BudgetMode::Epoch,
            BudgetMode::Fuel,
            BudgetMode::EpochAndFuel,
        ] {
            for memory in [MemoryStrategy::Guarded, MemoryStrategy::Compact] {
                for allocation in [
                    AllocationStrategy::OnDemand,
                    AllocationStrategy::Pooling { max_rooms: 4 },
                ] {
                    let cfg = HostConfig {
                        budget,
                        memory,
                        allocation,
                        ..HostConfig::default()
                    };
                    build_engine(&cfg).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
                }
            }
        }
    }

    #[test]
    fn refuses_threads_and_memory64() {
        let engine = build_engine(&HostConfig::default()).unwrap();
        for wat in [
            "(module (memory 1 1 shared))",
            "(module (memory i64 1))",
            "(module (memory 1) (memory 1))",
        ] {
            let bytes = wat::parse_str(wat).unwrap();
            assert!(wasmtime::Module::new(&engine, &bytes).is_err(), "{wat}");
        }
        let ok =
            wat::parse_str("(module (memory 1) (func (result i32) (i32.const 1) (i32.extend8_s)))")
                .unwrap();
        wasmtime::Module::new(&engine, &ok).unwrap();
    }

    #[test]
    fn the_ticker_advances_the_epoch_and_stops_on_drop() {
        let cfg = HostConfig::default();
        let engine = build_engine(&cfg).unwrap();
        let ticker = EpochTicker::start(&engine, Duration::from_millis(1), Arc::default()).unwrap();
        // A store whose deadline is one tick away traps in a loop once the
        // ticker has run; this proves the ticker increments.
        let module = wasmtime::Module::new(
            &engine,
            wat::parse_str("(module (func (export \"spin\") (loop $l (br $l))))").unwrap(),
        )
        .unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_epoch_deadline(1);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let err = spin.call(&mut store, ()).unwrap_err();
        assert_eq!(
            err.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt)
        );
        drop(ticker);
    }
}
