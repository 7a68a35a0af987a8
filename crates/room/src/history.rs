//! The bounded patch history a room keeps for resume and ack checks.

use std::collections::VecDeque;
use std::sync::Arc;

use arbiter_protocol::{Checksum, Seq, SharedFrame};

/// One sent patch.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: Seq,
    pub(crate) checksum: Checksum,
    pub(crate) frame: Arc<SharedFrame>,
}

/// The last `capacity` patches, oldest first, with consecutive seqs.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> History {
        History {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The checksum after patch `seq`, when it is still kept.
    pub(crate) fn checksum_at(&self, seq: Seq) -> Option<Checksum> {
        let first = self.entries.front()?.seq.0;
        let idx = usize::try_from(seq.0.checked_sub(first)?).ok()?;
        self.entries.get(idx).map(|e| e.checksum)
    }

    /// Every patch after `seq` up to `current`, or `None` when some are no
    /// longer kept (the caller sends a snapshot instead).
    pub(crate) fn since(&self, seq: Seq, current: Seq) -> Option<Vec<Arc<SharedFrame>>> {
        if seq.0 >= current.0 {
            return Some(Vec::new());
        }
        let first = self.entries.front()?.seq.0;
        if seq.0 + 1 < first {
            return None;
        }
        let skip = usize::try_from(seq.0 + 1 - first).ok()?;
        Some(
            self.entries
                .iter()
                .skip(skip)
                .map(|e| e.frame.clone())
                .collect(),
        )
    }
}
