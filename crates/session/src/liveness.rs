//! Heartbeat deadline (PROTOCOL.md §3): no traffic for 2 × `heartbeat_ms`
//! suspends the session.

use std::time::{Duration, Instant};

/// The longest silence window honoured; longer settings are capped so that the
/// deadline never overflows an [`Instant`].
const MAX_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);

/// Tracks when a connection last showed signs of life. The runtime calls
/// [`Liveness::on_traffic`] for every inbound frame (any frame, `ping` or not,
/// and WebSocket pings) and sleeps until [`Liveness::deadline`].
#[derive(Debug, Clone)]
pub struct Liveness {
    window: Duration,
    last: Instant,
}

impl Liveness {
    /// Starts counting at `now` (the handshake) for a `heartbeat` period.
    pub fn new(heartbeat: Duration, now: Instant) -> Self {
        Liveness {
            window: heartbeat.saturating_mul(2).min(MAX_WINDOW),
            last: now,
        }
    }

    /// Records traffic at `now`. An earlier `now` than the last one is ignored.
    pub fn on_traffic(&mut self, now: Instant) {
        if now > self.last {
            self.last = now;
        }
    }

    /// When the session is to be suspended unless more traffic arrives: the
    /// last traffic + 2 × heartbeat.
    pub fn deadline(&self) -> Instant {
        self.last.checked_add(self.window).unwrap_or(self.last)
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_moves_with_traffic() {
        let t0 = Instant::now();
        let hb = Duration::from_millis(15_000);
        let mut l = Liveness::new(hb, t0);
        assert_eq!(l.deadline(), t0 + Duration::from_secs(30));
        assert!(!l.is_expired(t0 + Duration::from_millis(29_999)));
        assert!(l.is_expired(t0 + Duration::from_secs(30)));
        let t1 = t0 + Duration::from_secs(20);
        l.on_traffic(t1);
        assert_eq!(l.deadline(), t1 + Duration::from_secs(30));
        l.on_traffic(t0);
        assert_eq!(l.deadline(), t1 + Duration::from_secs(30));
    }

    #[test]
    fn huge_heartbeats_do_not_overflow() {
        let t0 = Instant::now();
        let l = Liveness::new(Duration::MAX, t0);
        assert_eq!(l.deadline(), t0 + MAX_WINDOW);
    }
}
