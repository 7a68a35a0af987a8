//! The per-hook execution budget in epoch mode, charged in *thread CPU time*.
//!
//! The epoch ticker bumps the engine epoch every tick. A hook starts with a
//! deadline one tick away, so a hook that finishes within the current tick (nearly
//! all of them) costs nothing but the compiled epoch checks. When a deadline is
//! reached, wasmtime calls [`BudgetClock::on_deadline`] on the hook's own thread,
//! which reads the thread's CPU clock: the first time, to take a mark; then at
//! every further tick, to charge the CPU used since the mark (one clock read per
//! tick of a long hook, ~0.03% of it). Wall time the thread spent preempted (an
//! overloaded host) is therefore never charged to the plugin, and the cut-off
//! lands between `budget` and `budget` + two ticks of CPU time (the uncharged
//! part before the mark, and the wait for the tick after the budget ran out).
//!
//! Where no thread CPU clock exists the monotonic wall clock stands in.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

/// Nanoseconds of CPU time consumed by the calling thread.
#[cfg(unix)]
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return wall_ns();
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds of CPU time consumed by the calling thread (wall-clock fallback).
#[cfg(not(unix))]
pub(crate) fn thread_cpu_ns() -> u64 {
    wall_ns()
}

fn wall_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Budget accounting of one store, reset before each hook.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BudgetClock {
    budget_ns: u64,
    /// Thread CPU time at the first deadline of the current hook.
    mark: Option<u64>,
}

impl BudgetClock {
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            budget_ns: u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX),
            mark: None,
        }
    }

    /// Forgets the previous hook. The caller sets the deadline one tick away.
    pub(crate) fn reset(&mut self) {
        self.mark = None;
    }

    /// Called by wasmtime when the epoch deadline is reached.
    pub(crate) fn on_deadline(&mut self, now_cpu_ns: u64) -> UpdateDeadline {
        let Some(mark) = self.mark else {
            // The first tick boundary since the hook started: the CPU used before
            // it is at most one tick, and is not charged (the plugin gets at
            // least its whole budget).
            self.mark = Some(now_cpu_ns);
            return UpdateDeadline::Continue(1);
        };
        if now_cpu_ns.saturating_sub(mark) >= self.budget_ns {
            return UpdateDeadline::Interrupt;
        }
        // Check again at the next tick rather than sleeping through the
        // remaining budget: ticks can arrive late on a busy host, and a late
        // tick would otherwise stretch the cut-off by the lateness of each.
        UpdateDeadline::Continue(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(u: UpdateDeadline) -> Option<u64> {
        match u {
            UpdateDeadline::Continue(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn charges_cpu_from_the_first_deadline_on() {
        let ms = 1_000_000;
        let mut c = BudgetClock::new(Duration::from_millis(5));
        // First deadline: mark, check again next tick.
        assert_eq!(ticks(c.on_deadline(100 * ms)), Some(1));
        // Many ticks of wall time later the thread only ran 2 ms (preempted): go on.
        assert_eq!(ticks(c.on_deadline(102 * ms)), Some(1));
        assert_eq!(ticks(c.on_deadline(104 * ms + ms / 2)), Some(1));
        // Budget used up.
        assert!(ticks(c.on_deadline(105 * ms)).is_none());
        // A new hook starts afresh.
        c.reset();
        assert_eq!(ticks(c.on_deadline(200 * ms)), Some(1));
        assert_eq!(ticks(c.on_deadline(204 * ms)), Some(1));
        assert!(ticks(c.on_deadline(206 * ms)).is_none());
    }

    #[test]
    fn the_thread_cpu_clock_advances_with_work() {
        let a = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > a);
    }
}
