//! The per-store resource limiter: memory, tables and instance counts.
//!
//! Growth past a limit is *refused* (`memory.grow` returns -1, as the wasm spec
//! allows) rather than trapping at once, so a plugin that handles the failure
//! goes on. The refusal is remembered; if the hook then fails, the host reports
//! [`crate::PluginError::MemoryLimit`] (or `TableLimit`) instead of the bare trap
//! the guest's allocator turned it into.

use wasmtime::ResourceLimiter;

use crate::config::Limits;

/// A refused growth request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// Memory growth to `requested` bytes.
    Memory { requested: usize },
    /// Table growth to `requested` elements.
    Table { requested: usize },
}

/// Enforces [`Limits`] on one store (one room instance).
#[derive(Debug, Clone)]
pub(crate) struct RoomLimiter {
    memory_bytes: usize,
    table_elements: usize,
    tables: usize,
    /// The last refusal since [`RoomLimiter::take_denied`].
    denied: Option<Denied>,
}

impl RoomLimiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            tables: limits.tables,
            denied: None,
        }
    }

    /// Returns and clears the last refusal.
    pub(crate) fn take_denied(&mut self) -> Option<Denied> {
        self.denied.take()
    }
}

impl ResourceLimiter for RoomLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.denied = Some(Denied::Memory { requested: desired });
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.denied = Some(Denied::Table { requested: desired });
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // One store per room, one instance per store: a rebuild makes a new store.
        1
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_growth_past_the_limits_and_remembers_it() {
        let mut l = RoomLimiter::new(&Limits::default());
        assert!(l.memory_growing(0, 32 << 20, None).unwrap());
        assert_eq!(l.take_denied(), None);
        assert!(!l.memory_growing(0, (32 << 20) + 65536, None).unwrap());
        assert_eq!(
            l.take_denied(),
            Some(Denied::Memory {
                requested: (32 << 20) + 65536
            })
        );
        assert_eq!(l.take_denied(), None);
        assert!(!l.table_growing(0, 20_001, None).unwrap());
        assert_eq!(l.take_denied(), Some(Denied::Table { requested: 20_001 }));
        assert_eq!((l.instances(), l.memories(), l.tables()), (1, 1, 1));
    }
}
