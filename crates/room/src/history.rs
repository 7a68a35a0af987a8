//! The bounded patch history a room keeps for resume and ack checks.
//!
//! Two windows: the checksums of the last `patch_history` patches (16 bytes
//! each, for `state.ack` checks), and the patches themselves for replay to a
//! resuming member. Patches are kept only while replaying them is cheaper
//! than a snapshot: at most `max_replay` of them, and beyond the newest
//! [`ALWAYS_KEPT`], only while their total weight stays under the state's.
//! A room whose patches rewrite most of a small state (an arena) keeps a
//! few; one with a large state and small patches keeps up to `max_replay`.

use std::collections::VecDeque;
use std::sync::Arc;

use arbiter_protocol::{Checksum, Seq, SharedFrame};

/// Patches always kept for replay (a blip of a few ticks replays rather
/// than resending the state), whatever they weigh.
pub(crate) const ALWAYS_KEPT: usize = 2;

/// One sent patch, kept for replay.
#[derive(Debug)]
struct Kept {
    seq: Seq,
    weight: usize,
    frame: Arc<SharedFrame>,
}

/// The last patches' checksums, and the newest patches worth replaying.
#[derive(Debug)]
pub(crate) struct History {
    /// The checksum after each of the last `checksum_capacity` patches; the
    /// first is patch `first_checksum`'s (seqs are consecutive).
    checksums: VecDeque<Checksum>,
    first_checksum: Seq,
    checksum_capacity: usize,
    /// Consecutive seqs, oldest first, ending at the newest patch.
    frames: VecDeque<Kept>,
    frames_weight: usize,
    max_frames: usize,
}

impl History {
    /// Keeps `checksums` checksums and at most `max_frames` patches.
    pub(crate) fn new(checksums: usize, max_frames: usize) -> History {
        History {
            checksums: VecDeque::with_capacity(checksums.min(1024)),
            first_checksum: Seq(0),
            checksum_capacity: checksums,
            frames: VecDeque::with_capacity(max_frames.min(ALWAYS_KEPT)),
            frames_weight: 0,
            max_frames,
        }
    }

    /// Records patch `seq`. `weight` is what the patch weighs and
    /// `state_weight` what a snapshot of the state after it would (both in
    /// canonical-JSON bytes).
    pub(crate) fn push(
        &mut self,
        seq: Seq,
        checksum: Checksum,
        frame: Arc<SharedFrame>,
        weight: usize,
        state_weight: usize,
    ) {
        if self.checksum_capacity > 0 {
            if self.checksums.len() == self.checksum_capacity {
                self.checksums.pop_front();
            }
            self.checksums.push_back(checksum);
            self.first_checksum = Seq(seq.0 + 1 - self.checksums.len() as u64);
        }
        if self.max_frames == 0 {
            return;
        }
        self.frames.push_back(Kept { seq, weight, frame });
        self.frames_weight += weight;
        while self.frames.len() > self.max_frames
            || (self.frames.len() > ALWAYS_KEPT && self.frames_weight > state_weight)
        {
            let Some(old) = self.frames.pop_front() else {
                break;
            };
            self.frames_weight -= old.weight;
        }
    }

    /// The checksum after patch `seq`, when it is still kept.
    pub(crate) fn checksum_at(&self, seq: Seq) -> Option<Checksum> {
        let idx = usize::try_from(seq.0.checked_sub(self.first_checksum.0)?).ok()?;
        self.checksums.get(idx).copied()
    }

    /// Every patch after `seq` up to `current`, or `None` when some are no
    /// longer kept (the caller sends a snapshot instead).
    pub(crate) fn since(&self, seq: Seq, current: Seq) -> Option<Vec<Arc<SharedFrame>>> {
        if seq.0 >= current.0 {
            return Some(Vec::new());
        }
        let first = self.frames.front()?.seq.0;
        if seq.0 + 1 < first {
            return None;
        }
        let skip = usize::try_from(seq.0 + 1 - first).ok()?;
        Some(
            self.frames
                .iter()
                .skip(skip)
                .map(|e| e.frame.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::{Pong, ServerFrame};

    fn frame() -> Arc<SharedFrame> {
        SharedFrame::new(ServerFrame::new(Pong {
            ts: None,
            server_ts: 0,
        }))
    }

    fn fill(h: &mut History, seqs: std::ops::RangeInclusive<u64>, weight: usize, state: usize) {
        for s in seqs {
            h.push(Seq(s), Checksum(s), frame(), weight, state);
        }
    }

    #[test]
    fn heavy_patches_beyond_the_always_kept_ones_give_way_to_a_snapshot() {
        let mut h = History::new(256, 64);
        // Each patch weighs as much as the whole state (an arena).
        fill(&mut h, 1..=40, 100, 100);
        assert_eq!(h.since(Seq(38), Seq(40)).map(|f| f.len()), Some(2));
        assert!(h.since(Seq(37), Seq(40)).is_none(), "a snapshot is cheaper");
        // Checksums are kept for acks all the same.
        assert_eq!(h.checksum_at(Seq(1)), Some(Checksum(1)));
        assert_eq!(h.checksum_at(Seq(40)), Some(Checksum(40)));
        assert_eq!(h.checksum_at(Seq(41)), None);
    }

    #[test]
    fn light_patches_of_a_large_state_are_kept_up_to_max_replay() {
        let mut h = History::new(256, 64);
        fill(&mut h, 1..=100, 10, 100_000);
        assert_eq!(h.since(Seq(36), Seq(100)).map(|f| f.len()), Some(64));
        assert!(h.since(Seq(35), Seq(100)).is_none());
        assert_eq!(h.since(Seq(100), Seq(100)).map(|f| f.len()), Some(0));
    }

    #[test]
    fn checksum_window_is_bounded() {
        let mut h = History::new(4, 0);
        fill(&mut h, 1..=10, 1, 1);
        assert_eq!(h.checksum_at(Seq(6)), None);
        assert_eq!(h.checksum_at(Seq(7)), Some(Checksum(7)));
        assert!(h.since(Seq(9), Seq(10)).is_none(), "no frames kept");
    }
}
