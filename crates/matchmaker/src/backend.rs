//! Where tickets live: the [`Backend`] trait.

use std::time::Instant;

use arbiter_protocol::{SessionId, TicketId};

use crate::ticket::{QueueKey, Ticket};

/// A ticket as a member of a matching unit (a lone ticket or one party member).
#[derive(Debug, Clone, PartialEq)]
pub struct UnitMember {
    /// The ticket.
    pub ticket: TicketId,
    /// Its session.
    pub session: SessionId,
    /// Its numeric skill, if any.
    pub skill: Option<f64>,
    /// When it was queued.
    pub enqueued_at: Instant,
    /// Its global enqueue order.
    pub seq: u64,
}

/// What the matcher places: a lone ticket, or every ticket of one party.
///
/// A unit's place in the queue is its oldest member's; its skill is the mean
/// of its members' skills (when any has one); its window is computed from its
/// oldest member's waiting time.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The members, oldest first; never empty when built by a backend.
    pub members: Vec<UnitMember>,
    /// The party id, for a party.
    pub party: Option<String>,
}

impl Unit {
    /// The unit's place in the queue: its oldest member's enqueue order.
    pub fn seq(&self) -> u64 {
        self.members.first().map_or(u64::MAX, |m| m.seq)
    }

    /// When the unit started waiting: its oldest member's enqueue time.
    pub fn since(&self) -> Option<Instant> {
        self.members.iter().map(|m| m.enqueued_at).min()
    }

    /// Seats the unit takes.
    pub fn len(&self) -> u32 {
        u32::try_from(self.members.len()).unwrap_or(u32::MAX)
    }

    /// Whether the unit has no members (never, for units from a backend).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The mean skill of the members that have one.
    pub fn skill(&self) -> Option<f64> {
        let (sum, n) = self
            .members
            .iter()
            .filter_map(|m| m.skill)
            .fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
        (n > 0).then(|| sum / f64::from(n))
    }
}

/// Why a backend refused a ticket.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsertError {
    /// The session already has a ticket for this project and room type.
    #[error("the session already has a ticket for this room type")]
    AlreadyQueued,
    /// The ticket id is taken (the caller draws another one).
    #[error("the ticket id is already in use")]
    DuplicateId,
    /// The party exists with a different size or different string properties.
    #[error("the party is queued with a different size or properties")]
    PartyMismatch {
        /// The party's match size.
        size: u32,
    },
    /// The party already fills a whole match.
    #[error("the party already has {members} members")]
    PartyFull {
        /// Members already queued.
        members: u32,
    },
    /// The store cannot be reached or refused the write.
    #[error("{0}")]
    Unavailable(String),
}

/// Why [`Backend::take`] changed nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TakeError {
    /// A ticket is gone or paused since the queue was read (another node or
    /// call got there first); read the queue again.
    #[error("ticket {0} is no longer available")]
    Conflict(TicketId),
    /// The store cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// What [`Backend::take`] removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// The matched tickets, in the order asked for.
    pub tickets: Vec<Ticket>,
    /// The matched sessions' other tickets (other room types), removed too.
    pub withdrawn: Vec<Ticket>,
}

/// Storage of tickets and queues.
///
/// The [`Matchmaker`](crate::Matchmaker) holds the matching rules and calls a
/// backend to read queues and change tickets. [`InMemoryBackend`](crate::InMemoryBackend)
/// is the default; a shared store (Redis) lets several nodes use one set of
/// queues.
///
/// # Atomicity
///
/// Every method that checks and changes tickets must do so atomically, as one
/// step that no other caller can interleave with: [`Backend::insert`] (the
/// duplicate and party checks with the write), [`Backend::take`] (all of a
/// match's tickets and the withdrawal of the same sessions' other tickets, or
/// nothing), [`Backend::remove_session`], [`Backend::set_paused`] and
/// [`Backend::expire`]. A Redis backend implements each with one Lua script
/// (or one `MULTI` under `WATCH`). Reads ([`Backend::active_units`]) may be
/// stale: the matcher computes matches from a read and commits each with
/// `take`, which fails with [`TakeError::Conflict`] when the read is out of
/// date, so a stale read never double-books a session.
///
/// A `Matchmaker` examines a queue when its own calls changed it (or one of
/// its deadlines came). With a store shared by several nodes, a node must
/// also learn of the others' changes (e.g. Redis keyspace notifications) and
/// poll; that wiring belongs to the shared backend when it is written.
pub trait Backend {
    /// Stores a new ticket, after checking that the session has no ticket for
    /// the same project and room type, that its id is free, and for a party
    /// member that the party (same project, room type and party id) has the
    /// same queue key and room for one more. Atomic.
    fn insert(&mut self, ticket: Ticket) -> Result<(), InsertError>;

    /// Removes one ticket; `None` when it is not queued.
    fn remove(&mut self, ticket: &TicketId) -> Option<Ticket>;

    /// Removes every ticket of a session. Atomic.
    fn remove_session(&mut self, session: &SessionId) -> Vec<Ticket>;

    /// One ticket.
    fn ticket(&self, ticket: &TicketId) -> Option<Ticket>;

    /// Every ticket of a session, in every project and room type.
    fn session_tickets(&self, session: &SessionId) -> Vec<Ticket>;

    /// Pauses (or resumes) a session: a paused session's tickets keep their
    /// place but are left out of [`Backend::active_units`], and so is every
    /// party with a paused member. Returns the queues of its tickets. Atomic.
    fn set_paused(&mut self, session: &SessionId, paused: bool) -> Vec<QueueKey>;

    /// The units of a queue that can be matched now (no paused member),
    /// oldest first.
    fn active_units(&self, key: &QueueKey) -> Vec<Unit>;

    /// Removes the given tickets and every other ticket of their sessions, or
    /// nothing when any of them is gone or paused. Atomic.
    fn take(&mut self, tickets: &[TicketId]) -> Result<Taken, TakeError>;

    /// Removes and returns every ticket whose `expires_at` is at or before
    /// `now`, oldest first. Atomic.
    fn expire(&mut self, now: Instant) -> Vec<Ticket>;

    /// The earliest `expires_at` of any ticket.
    fn next_expiry(&self) -> Option<Instant>;

    /// Tickets queued (paused ones included) in one queue.
    fn queue_len(&self, key: &QueueKey) -> usize;

    /// Every non-empty queue with its ticket count.
    fn queue_lens(&self) -> Vec<(QueueKey, usize)>;
}
