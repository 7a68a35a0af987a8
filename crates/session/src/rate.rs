//! Inbound rate limit: a token bucket per session (PROTOCOL.md §9: 100 frames/s
//! sustained, bursts of 200).

use std::time::Instant;

/// One token, in the bucket's integer units (token × 10⁹), so that refill is
/// exact: at `rate` tokens/s, each elapsed nanosecond adds `rate` units.
const UNIT: u128 = 1_000_000_000;

/// A token bucket with continuous refill. It starts full (`burst` tokens),
/// refills at `rate_per_sec` and holds at most `burst`; each frame takes one.
///
/// Time is passed in, so the bucket is deterministic and testable with
/// synthetic [`Instant`]s. A `now` earlier than a previous one adds nothing.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u128,
    capacity: u128,
    level: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `burst` of 0 is treated as 1 (a bucket that can never
    /// be taken from would refuse every frame); a `rate_per_sec` of 0 never
    /// refills.
    pub fn new(rate_per_sec: u32, burst: u32, now: Instant) -> Self {
        let capacity = u128::from(burst.max(1)) * UNIT;
        TokenBucket {
            rate: u128::from(rate_per_sec),
            capacity,
            level: capacity,
            last: now,
        }
    }

    /// Takes one token if there is one (the frame may pass), else `false`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.level >= UNIT {
            self.level -= UNIT;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (refilling first).
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        u32::try_from(self.level / UNIT).unwrap_or(u32::MAX)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        if elapsed > 0 {
            self.last = now;
            let added = elapsed.saturating_mul(self.rate);
            self.level = self.level.saturating_add(added).min(self.capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_steady_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 200, t0);
        assert_eq!((0..200).filter(|_| b.try_take(t0)).count(), 200);
        assert!(!b.try_take(t0));
        // 10 ms at 100/s is exactly one token.
        let t1 = t0 + Duration::from_millis(10);
        assert!(b.try_take(t1));
        assert!(!b.try_take(t1));
        // 9.999 ms is not.
        let t2 = t1 + Duration::from_micros(9_999);
        assert!(!b.try_take(t2));
        assert!(b.try_take(t2 + Duration::from_micros(1)));
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 5, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.available(later), 5);
        assert_eq!((0..10).filter(|_| b.try_take(later)).count(), 5);
    }

    #[test]
    fn degenerate_settings_do_not_panic() {
        let t0 = Instant::now();
        let mut zero_rate = TokenBucket::new(0, 1, t0);
        assert!(zero_rate.try_take(t0));
        assert!(!zero_rate.try_take(t0 + Duration::from_secs(1_000)));
        let mut zero_burst = TokenBucket::new(1, 0, t0);
        assert!(zero_burst.try_take(t0));
        assert!(!zero_burst.try_take(t0));
        let mut huge = TokenBucket::new(u32::MAX, u32::MAX, t0);
        assert!(huge.try_take(t0 + Duration::from_secs(u64::from(u32::MAX))));
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut b = TokenBucket::new(1, 1, t1);
        assert!(b.try_take(t1));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t1));
        assert!(b.try_take(t1 + Duration::from_secs(1)));
    }
}
