//! A session's bounded outbound queue (PROTOCOL.md §9), shared by the rooms
//! that push into it and the connection's writer that drains it.
//!
//! Overflow policy: when full, the oldest unreliable frame makes room for the
//! new one; with no unreliable frame queued, a new unreliable frame is
//! dropped and a new reliable frame overflows the queue, which suspends the
//! session (it can resume and be replayed from its last ack).
//!
//! Each transport of a session gets a new epoch; pushes carry the epoch their
//! sender knows, so that frames meant for a dropped transport never mix with
//! a resumed one's replay.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use arbiter_protocol::SharedFrame;
use arbiter_room::Delivery;

/// One queued frame.
#[derive(Debug, Clone)]
pub struct Item {
    /// The frame (shared with the other recipients).
    pub frame: Arc<SharedFrame>,
    /// Whether it may be dropped.
    pub delivery: Delivery,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued (possibly in place of an older unreliable frame, see `dropped`).
    Queued {
        /// An older unreliable frame was dropped to make room.
        dropped: bool,
    },
    /// The frame was unreliable and the queue full of reliable frames.
    Dropped,
    /// A reliable frame did not fit: the outbox is now overflowed.
    Overflow,
    /// The outbox is not accepting (suspended, closing, or another epoch).
    Rejected,
}

/// What the writer gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// Frames were moved into the buffer.
    Items,
    /// The writer's epoch is over (the session was suspended or resumed elsewhere).
    Stale,
    /// Everything was written and the connection is to be closed.
    Closed,
    /// The queue overflowed; the session must be suspended.
    Overflow,
}

#[derive(Debug)]
struct Inner {
    /// Oldest first. A `Vec`: the consumer always takes everything, by
    /// swapping it with its (empty) batch buffer, so no item is moved twice.
    queue: Vec<Item>,
    epoch: u64,
    accepting: bool,
    closing: bool,
    overflow: bool,
    /// The consumer's waker. Kept under the queue's lock, which every push
    /// takes anyway, and set only after the consumer's epoch was checked, so
    /// a consumer of an ended epoch never displaces the current one's.
    waker: Option<Waker>,
}

/// The queue itself: many pushers (room actors, the session's own task),
/// one consumer (the current transport's writer).
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Outbox {
    /// An outbox of `capacity` frames, closed until the first [`Outbox::reopen`].
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                queue: Vec::new(),
                epoch: 0,
                accepting: false,
                closing: false,
                overflow: false,
                waker: None,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a few field updates), so poison is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current epoch (for pushes by the session's own task).
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Starts a new epoch for a new transport: clears the queue, accepts again.
    pub fn reopen(&self) -> u64 {
        let mut inner = self.lock();
        inner.queue.clear();
        inner.epoch += 1;
        inner.accepting = true;
        inner.closing = false;
        inner.overflow = false;
        let epoch = inner.epoch;
        // The previous epoch's consumer, if still waiting, learns it is stale.
        wake(inner);
        epoch
    }

    /// The transport dropped: discard everything until the next `reopen`.
    pub fn suspend(&self) {
        let mut inner = self.lock();
        inner.queue.clear();
        inner.accepting = false;
        wake(inner);
    }

    /// No more pushes; the writer finishes what is queued, then closes.
    pub fn close_when_flushed(&self) {
        let mut inner = self.lock();
        inner.accepting = false;
        inner.closing = true;
        wake(inner);
    }

    /// True when nothing is queued (or the outbox no longer accepts frames
    /// and the writer has taken everything).
    pub fn is_drained(&self) -> bool {
        self.lock().queue.is_empty()
    }

    /// Queues `frame` for the transport of `epoch`, applying the overflow
    /// policy of the module docs.
    pub fn push(&self, epoch: u64, frame: Arc<SharedFrame>, delivery: Delivery) -> Push {
        let mut inner = self.lock();
        if !inner.accepting || inner.epoch != epoch {
            return Push::Rejected;
        }
        let mut dropped = false;
        if inner.queue.len() >= self.capacity {
            let oldest_unreliable = inner
                .queue
                .iter()
                .position(|i| i.delivery == Delivery::Unreliable);
            match (oldest_unreliable, delivery) {
                (Some(idx), _) => {
                    inner.queue.remove(idx);
                    dropped = true;
                }
                (None, Delivery::Unreliable) => return Push::Dropped,
                (None, Delivery::Reliable) => {
                    inner.accepting = false;
                    inner.overflow = true;
                    inner.queue.clear();
                    wake(inner);
                    return Push::Overflow;
                }
            }
        }
        let was_empty = inner.queue.is_empty();
        inner.queue.push(Item { frame, delivery });
        if was_empty {
            wake(inner);
        }
        Push::Queued { dropped }
    }

    /// Waits for frames of `epoch` and moves them all into `buf`. One consumer
    /// (the connection's writer) at a time per epoch.
    pub async fn next_batch(&self, epoch: u64, buf: &mut Vec<Item>) -> Batch {
        std::future::poll_fn(|cx| self.poll_batch(cx, epoch, buf)).await
    }

    /// [`Outbox::next_batch`] as a poll: `Pending` registers `cx`'s waker,
    /// woken by the next push or state change.
    pub fn poll_batch(&self, cx: &mut Context<'_>, epoch: u64, buf: &mut Vec<Item>) -> Poll<Batch> {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return Poll::Ready(Batch::Stale);
        }
        // Registered before the checks, under the lock: a push after them
        // wakes this waker.
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        if inner.overflow {
            return Poll::Ready(Batch::Overflow);
        }
        if !inner.queue.is_empty() {
            if buf.is_empty() {
                std::mem::swap(buf, &mut inner.queue);
            } else {
                buf.append(&mut inner.queue);
            }
            return Poll::Ready(Batch::Items);
        }
        if inner.closing {
            return Poll::Ready(Batch::Closed);
        }
        if !inner.accepting {
            return Poll::Ready(Batch::Stale);
        }
        Poll::Pending
    }
}

/// Takes the consumer's waker, unlocks, then wakes it (waking under the lock
/// would let the woken task contend for it).
fn wake(mut inner: MutexGuard<'_, Inner>) {
    let waker = inner.waker.take();
    drop(inner);
    if let Some(waker) = waker {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::{Pong, ServerFrame};

    fn frame(n: u64) -> Arc<SharedFrame> {
        SharedFrame::new(ServerFrame::new(Pong {
            ts: None,
            server_ts: n,
        }))
    }

    fn ts(item: &Item) -> u64 {
        match &item.frame.frame().msg {
            arbiter_protocol::ServerMessage::Pong(p) => p.server_ts,
            _ => u64::MAX,
        }
    }

    #[tokio::test]
    async fn full_queue_drops_oldest_unreliable_then_overflows() {
        let ob = Outbox::new(3);
        let e = ob.reopen();
        assert_eq!(
            ob.push(e, frame(1), Delivery::Unreliable),
            Push::Queued { dropped: false }
        );
        assert_eq!(
            ob.push(e, frame(2), Delivery::Reliable),
            Push::Queued { dropped: false }
        );
        assert_eq!(
            ob.push(e, frame(3), Delivery::Reliable),
            Push::Queued { dropped: false }
        );
        // Full: the unreliable 1 gives way.
        assert_eq!(
            ob.push(e, frame(4), Delivery::Reliable),
            Push::Queued { dropped: true }
        );
        // Full of reliable frames: unreliable dropped, reliable overflows.
        assert_eq!(ob.push(e, frame(5), Delivery::Unreliable), Push::Dropped);
        let mut buf = Vec::new();
        assert_eq!(ob.push(e, frame(6), Delivery::Reliable), Push::Overflow);
        assert_eq!(ob.next_batch(e, &mut buf).await, Batch::Overflow);
        assert!(buf.is_empty());
        // A resumed transport starts clean.
        let e2 = ob.reopen();
        assert_eq!(ob.push(e, frame(7), Delivery::Reliable), Push::Rejected);
        assert_eq!(
            ob.push(e2, frame(8), Delivery::Reliable),
            Push::Queued { dropped: false }
        );
        assert_eq!(ob.next_batch(e, &mut buf).await, Batch::Stale);
        assert_eq!(ob.next_batch(e2, &mut buf).await, Batch::Items);
        assert_eq!(buf.iter().map(ts).collect::<Vec<_>>(), [8]);
    }

    #[tokio::test]
    async fn writer_wakes_on_push_and_finishes_on_close() {
        let ob = Arc::new(Outbox::new(10));
        let e = ob.reopen();
        let writer = {
            let ob = ob.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = Vec::new();
                loop {
                    match ob.next_batch(e, &mut buf).await {
                        Batch::Items => seen.extend(buf.drain(..).map(|i| ts(&i))),
                        other => return (seen, other),
                    }
                }
            })
        };
        for n in 0..5 {
            ob.push(e, frame(n), Delivery::Reliable);
        }
        ob.close_when_flushed();
        let (seen, end) = writer.await.unwrap();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(end, Batch::Closed);
    }
}
