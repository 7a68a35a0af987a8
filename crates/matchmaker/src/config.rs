//! Matching rules per room type.

use std::collections::HashMap;
use std::time::Duration;

/// How one room type's tickets are matched: the skill window and the ticket
/// lifetime.
///
/// A ticket's skill window widens with its waiting time:
/// `window(t) = min(max_skill_window, skill_window + skill_window_growth_per_sec × waited_secs)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRules {
    /// The initial `±` skill window of a fresh ticket.
    pub skill_window: f64,
    /// How fast the window widens, in skill points per second of waiting.
    pub skill_window_growth_per_sec: f64,
    /// The widest the window ever gets.
    pub max_skill_window: f64,
    /// How long a ticket may wait before it is dropped with
    /// [`Event::TimedOut`](crate::Event::TimedOut).
    pub ticket_ttl: Duration,
    /// How long a party waits after its newest member joined before it can be
    /// matched, so that members enqueueing a moment apart are not matched
    /// without the rest of their party (the protocol does not say how big a
    /// party is).
    pub party_settle: Duration,
}

impl Default for QueueRules {
    /// `±100`, widening by 50 per second up to `±1000`, tickets live 60 s,
    /// parties settle for 1 s.
    fn default() -> Self {
        QueueRules {
            skill_window: 100.0,
            skill_window_growth_per_sec: 50.0,
            max_skill_window: 1000.0,
            ticket_ttl: Duration::from_secs(60),
            party_settle: Duration::from_secs(1),
        }
    }
}

impl QueueRules {
    /// The window of a ticket (or party) that has waited `waited`.
    ///
    /// Non-finite or negative settings are treated as 0 so that a bad
    /// configuration never produces NaN comparisons.
    pub fn window(&self, waited: Duration) -> f64 {
        let base = sanitize(self.skill_window);
        let growth = sanitize(self.skill_window_growth_per_sec);
        let max = sanitize(self.max_skill_window).max(base);
        (base + growth * waited.as_secs_f64()).min(max)
    }

    /// How long after enqueue a ticket's window first reaches `distance`,
    /// or `None` when it never does (beyond the maximum, or no growth).
    pub(crate) fn time_to_reach(&self, distance: f64) -> Option<Duration> {
        let base = sanitize(self.skill_window);
        let growth = sanitize(self.skill_window_growth_per_sec);
        let max = sanitize(self.max_skill_window).max(base);
        if distance <= base {
            return Some(Duration::ZERO);
        }
        if distance > max || growth <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64((distance - base) / growth).ok()
    }

    /// Whether windows of this room type ever widen.
    pub(crate) fn widens(&self) -> bool {
        sanitize(self.skill_window_growth_per_sec) > 0.0
            && sanitize(self.max_skill_window) > sanitize(self.skill_window)
    }
}

fn sanitize(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

/// The matchmaker's configuration: rules per room type, with a default.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchmakerConfig {
    /// Rules for every room type not listed in [`MatchmakerConfig::rules`].
    pub default_rules: QueueRules,
    /// Rules by room type.
    pub rules: HashMap<String, QueueRules>,
    /// The shortest time between two examinations of one queue. Examining a
    /// queue reads it whole, so this bounds the work a busy queue costs
    /// (input arriving faster is batched), at the price of a match forming
    /// up to this much later. `Duration::ZERO` examines on every poll.
    pub min_eval_interval: Duration,
}

impl Default for MatchmakerConfig {
    /// Default rules for every room type; queues examined at most every 50 ms.
    fn default() -> Self {
        MatchmakerConfig {
            default_rules: QueueRules::default(),
            rules: HashMap::new(),
            min_eval_interval: Duration::from_millis(50),
        }
    }
}

impl MatchmakerConfig {
    /// The rules of `room_type`.
    pub fn rules_for(&self, room_type: &str) -> &QueueRules {
        self.rules.get(room_type).unwrap_or(&self.default_rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_widens_then_caps() {
        let r = QueueRules::default();
        assert_eq!(r.window(Duration::ZERO), 100.0);
        assert_eq!(r.window(Duration::from_secs(2)), 200.0);
        assert_eq!(r.window(Duration::from_secs(100)), 1000.0);
        assert_eq!(r.time_to_reach(50.0), Some(Duration::ZERO));
        assert_eq!(r.time_to_reach(300.0), Some(Duration::from_secs(4)));
        assert_eq!(r.time_to_reach(1000.5), None);
    }

    #[test]
    fn bad_settings_never_produce_nan() {
        let r = QueueRules {
            skill_window: f64::NAN,
            skill_window_growth_per_sec: -3.0,
            max_skill_window: f64::INFINITY,
            ticket_ttl: Duration::from_secs(1),
            party_settle: Duration::ZERO,
        };
        assert_eq!(r.window(Duration::from_secs(10)), 0.0);
        assert!(!r.widens());
        assert_eq!(r.time_to_reach(1.0), None);
    }
}
