//! What a plugin can reach: exactly `arbiter_v1.random_u64` and `arbiter_v1.log`.
//!
//! No WASI, no clock, no files, no sockets: time comes only from hook inputs and
//! randomness only from the room's seeded generator.

use std::sync::Arc;
use std::time::Instant;

use arbiter_plugin_abi::{IMPORT_LOG, IMPORT_MODULE, IMPORT_RANDOM_U64};
use wasmtime::{Caller, Engine, Linker, Memory};

use crate::budget::BudgetClock;
use crate::config::{HostConfig, LogLimits};
use crate::error::{PluginError, boxed};
use crate::limits::RoomLimiter;
use arbiter_plugin_abi::RoomRng;

/// The data of one room's store: what host functions see.
pub(crate) struct HostState {
    /// Room id, for log lines.
    pub(crate) room: Arc<str>,
    /// Room type, for log lines.
    pub(crate) room_type: Arc<str>,
    /// The room's generator; survives instance rebuilds.
    pub(crate) rng: RoomRng,
    /// Memory/table limits.
    pub(crate) limiter: RoomLimiter,
    /// The instance's exported memory, once instantiated.
    pub(crate) memory: Option<Memory>,
    /// Log rate limiting; survives instance rebuilds.
    pub(crate) log: LogGate,
    /// CPU-time accounting of the running hook (epoch modes).
    pub(crate) budget: BudgetClock,
}

impl HostState {
    pub(crate) fn new(room: Arc<str>, room_type: Arc<str>, seed: u64, config: &HostConfig) -> Self {
        Self {
            room,
            room_type,
            rng: RoomRng::new(seed),
            limiter: RoomLimiter::new(&config.limits),
            memory: None,
            log: LogGate::new(config.log, Instant::now()),
            budget: BudgetClock::new(config.limits.hook_budget),
        }
    }
}

/// Per-room token bucket for the `log` import.
#[derive(Debug, Clone)]
pub(crate) struct LogGate {
    limits: LogLimits,
    /// Tokens in millis of a line (1000 = one line), to refill without floats.
    tokens_milli: u64,
    last: Instant,
    /// Lines dropped since the last admitted one.
    dropped_pending: u64,
    /// Lines dropped over the room's life.
    pub(crate) dropped_total: u64,
}

impl LogGate {
    pub(crate) fn new(limits: LogLimits, now: Instant) -> Self {
        Self {
            limits,
            tokens_milli: u64::from(limits.burst) * 1000,
            last: now,
            dropped_pending: 0,
            dropped_total: 0,
        }
    }

    /// Whether a line may be logged now; `Some(n)` admits it and reports `n`
    /// lines dropped since the previous admitted one.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis();
        let refill = elapsed_ms.saturating_mul(u128::from(self.limits.per_second));
        let cap = u64::from(self.limits.burst) * 1000;
        if refill > 0 {
            self.last = now;
            let refill = u64::try_from(refill).unwrap_or(u64::MAX);
            self.tokens_milli = self.tokens_milli.saturating_add(refill).min(cap);
        }
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            Some(std::mem::take(&mut self.dropped_pending))
        } else {
            self.dropped_pending += 1;
            self.dropped_total += 1;
            None
        }
    }
}

/// Builds the linker that resolves a plugin's imports.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<HostState>, PluginError> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(IMPORT_MODULE, IMPORT_RANDOM_U64, random_u64)
        .map_err(|e| PluginError::Setup { source: boxed(e) })?;
    linker
        .func_wrap(IMPORT_MODULE, IMPORT_LOG, log)
        .map_err(|e| PluginError::Setup { source: boxed(e) })?;
    Ok(linker)
}

fn random_u64(mut caller: Caller<'_, HostState>) -> i64 {
    caller.data_mut().rng.next_u64() as i64
}

fn log(mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32) {
    let Some(memory) = caller.data().memory else {
        return;
    };
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let Some(dropped) = state.log.admit(Instant::now()) else {
        return;
    };
    if dropped > 0 {
        tracing::warn!(
            target: "arbiter::plugin",
            room = %state.room, room_type = %state.room_type, dropped,
            "plugin log lines dropped by the rate limit"
        );
    }
    let max = state.log.limits.max_line_bytes;
    let line = read_line(mem, ptr as u32, len as u32, max);
    let (room, room_type) = (&*state.room, &*state.room_type);
    let Some(line) = line else {
        tracing::warn!(
            target: "arbiter::plugin", room, room_type, ptr = ptr as u32, len = len as u32,
            "plugin log with an out-of-bounds buffer ignored"
        );
        return;
    };
    match level {
        i32::MIN..=0 => tracing::error!(target: "arbiter::plugin", room, room_type, "{line}"),
        1 => tracing::warn!(target: "arbiter::plugin", room, room_type, "{line}"),
        2 => tracing::info!(target: "arbiter::plugin", room, room_type, "{line}"),
        3 => tracing::debug!(target: "arbiter::plugin", room, room_type, "{line}"),
        _ => tracing::trace!(target: "arbiter::plugin", room, room_type, "{line}"),
    }
}

/// Reads at most `max` bytes of a guest string as lossy UTF-8, with control
/// characters replaced (no forged log lines). `None` when out of bounds.
pub(crate) fn read_line(mem: &[u8], ptr: u32, len: u32, max: usize) -> Option<String> {
    let start = ptr as usize;
    let take = (len as usize).min(max);
    let bytes = mem.get(start..start.checked_add(take)?)?;
    let mut line: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect();
    if (len as usize) > max {
        line.push('…');
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn read_line_is_bounded_lossy_and_truncated() {
        let mem = b"hello\nworld\xff!";
        assert_eq!(read_line(mem, 0, 5, 1024).as_deref(), Some("hello"));
        assert_eq!(
            read_line(mem, 0, 13, 1024).as_deref(),
            Some("hello world\u{fffd}!")
        );
        assert_eq!(read_line(mem, 0, 13, 3).as_deref(), Some("hel…"));
        assert_eq!(read_line(mem, 10, 10, 1024), None);
        assert_eq!(read_line(mem, u32::MAX, 2, 1024), None);
        // A huge length is cut to `max` before the bounds check.
        assert_eq!(read_line(mem, 0, u32::MAX, 2).as_deref(), Some("he…"));
    }

    #[test]
    fn log_gate_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let limits = LogLimits {
            max_line_bytes: 10,
            burst: 3,
            per_second: 10,
        };
        let mut g = LogGate::new(limits, t0);
        assert_eq!(g.admit(t0), Some(0));
        assert_eq!(g.admit(t0), Some(0));
        assert_eq!(g.admit(t0), Some(0));
        assert_eq!(g.admit(t0), None);
        assert_eq!(g.admit(t0), None);
        // 100 ms later one line's worth of tokens is back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(g.admit(t1), Some(2));
        assert_eq!(g.admit(t1), None);
        assert_eq!(g.dropped_total, 3);
        // Long idle refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(g.admit(t2).is_some());
        }
        assert_eq!(g.admit(t2), None);
    }
}
