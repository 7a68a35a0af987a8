//! What a room asks its driver to do.

use std::sync::Arc;

use arbiter_protocol::{SessionId, SharedFrame};

/// Whether a frame may be dropped under backpressure (PROTOCOL.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Must arrive, in order (patches, snapshots, responses, most messages).
    Reliable,
    /// May be dropped; may travel as a datagram.
    Unreliable,
}

/// One thing the driver must do, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Put `frame` into `to`'s outbox.
    Send {
        /// Recipient.
        to: SessionId,
        /// The frame, shared with other recipients.
        frame: Arc<SharedFrame>,
        /// Delivery intent.
        delivery: Delivery,
    },
    /// `session` is no longer a member (it left, was refused after a seat was
    /// reserved, or the room closed); the driver releases its seat and link.
    Removed {
        /// The former member.
        session: SessionId,
    },
    /// A seat reservation ended: taken by its session (`claimed`) or expired.
    ReservationEnded {
        /// The session it was held for.
        session: SessionId,
        /// True when the session joined; false when it expired.
        claimed: bool,
    },
    /// A hook failed; for metrics and logs.
    HookFailed {
        /// The failed hook's error.
        error: crate::LogicError,
    },
    /// The room closed; the driver stops it after delivering everything before.
    Closed {
        /// Why (`room.closed`'s reason).
        reason: String,
    },
}
