//! Per-room policy set by the server.

/// Settings every room of a server shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomConfig {
    /// Patches whose checksums are kept for `state.ack` checks (default 256).
    pub patch_history: usize,
    /// A patch carries a checksum at least every this many patches (default 1).
    pub checksum_every: u32,
    /// Most patches kept for, and replayed to, a resuming member; more missed
    /// patches get a snapshot instead, which cannot overflow its outbox
    /// (default 64). Beyond the newest 2, patches are kept only while they
    /// weigh less than the state (else a snapshot is the cheaper repair).
    pub max_replay: usize,
    /// Failed hooks before the room closes (default 10).
    pub max_errors: u32,
    /// `room.message` types with unreliable intent: exact names or `*.suffix`.
    pub unreliable_types: Vec<String>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            patch_history: 256,
            checksum_every: 1,
            max_replay: 64,
            max_errors: 10,
            unreliable_types: vec!["move".into(), "*.move".into(), "*.pos".into()],
        }
    }
}

/// Whether `kind` matches one of `patterns` (`name` exactly, or `*.suffix`:
/// any type ending in `.suffix`).
pub fn matches_type(patterns: &[String], kind: &str) -> bool {
    patterns.iter().any(|p| match p.strip_prefix('*') {
        Some(suffix) => kind.len() > suffix.len() && kind.ends_with(suffix),
        None => p == kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreliable_patterns() {
        let p = RoomConfig::default().unreliable_types;
        assert!(matches_type(&p, "move"));
        assert!(matches_type(&p, "ship.move"));
        assert!(matches_type(&p, "cursor.pos"));
        assert!(!matches_type(&p, ".move"));
        assert!(!matches_type(&p, "moves"));
        assert!(!matches_type(&p, "chat"));
    }
}
