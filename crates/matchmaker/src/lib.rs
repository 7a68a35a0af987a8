//! # arbiter-matchmaker
//!
//! Sans-IO matchmaking (PROTOCOL.md §7): players queue tickets, the
//! matchmaker groups compatible tickets into matches, fairly (oldest first)
//! and never putting a session in two matches. It owns no clock and no
//! task: the runtime passes `now`, calls [`Matchmaker::poll`] after input
//! and at [`Matchmaker::next_deadline`], and acts on the [`Event`]s (create
//! the room with [`Match::options`], reserve seats, send `match.found`; send
//! `match.timeout` for [`Event::TimedOut`]).
//!
//! ## When to use what
//!
//! - [`Matchmaker::enqueue`] for `matchmaking.enqueue`; its error's
//!   [`MatchmakerError::code`] and `reason` answer the request.
//! - [`Matchmaker::dequeue`] for `matchmaking.dequeue`.
//! - [`Matchmaker::pause_session`] / [`Matchmaker::resume_session`] when a
//!   session's transport drops and when it resumes; [`Matchmaker::remove_session`]
//!   when it ends.
//! - [`Matchmaker::queue_lens`] and [`Match::waited`] for metrics.
//!
//! ## The rules, in short
//!
//! Tickets match only within one queue: the same project, room type, `size`
//! and string properties (same keys, same values). A numeric `skill` is
//! matched within a window that widens with waiting
//! ([`QueueRules::window`]); two units fit when each is within the other's
//! window. A party is one unit and always lands in one match. The oldest unit
//! anchors a match and takes the oldest units that fit; a unit that cannot
//! complete a match keeps its place. When a session is matched, its tickets
//! for other room types are withdrawn. A party is held back for
//! [`QueueRules::party_settle`] after its newest member joined, and a queue
//! is examined at most every [`MatchmakerConfig::min_eval_interval`] (input
//! arriving faster is batched). See `docs/matchmaking.md`.
//!
//! Storage sits behind the [`Backend`] trait ([`InMemoryBackend`] by
//! default) whose multi-ticket changes are atomic, so that a shared store can
//! serve several nodes.
//!
//! ## Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use arbiter_matchmaker::{EnqueueRequest, Event, Matchmaker};
//! use arbiter_protocol::SessionId;
//! use serde_json::json;
//!
//! let mut mm = Matchmaker::default();
//! let t0 = Instant::now();
//! let ticket = |session: &str, skill: f64| EnqueueRequest {
//!     project: "demo".into(),
//!     session: SessionId::new(session).unwrap(),
//!     room_type: "duel".into(),
//!     size: 2,
//!     max_clients: Some(2),
//!     properties: json!({ "region": "eu", "skill": skill }).as_object().cloned(),
//!     party: None,
//! };
//! mm.enqueue(ticket("s_a", 1000.0), t0)?;
//! mm.enqueue(ticket("s_b", 1300.0), t0)?;
//!
//! // 300 apart: the ±100 windows do not overlap yet.
//! assert!(mm.poll(t0).is_empty());
//!
//! // Windows widen by 50/s: the runtime sleeps until the next deadline.
//! let wake = mm.next_deadline().expect("a window will widen");
//! assert!(wake > t0 + Duration::from_secs(3));
//! let events = mm.poll(wake);
//! let Event::Matched(m) = &events[0] else { panic!("a match") };
//! assert_eq!(m.participants.len(), 2);
//! assert_eq!(m.options["match"]["properties"]["region"], "eu");
//! assert_eq!(mm.queue_len("demo", "duel"), 0);
//! # Ok::<(), arbiter_matchmaker::MatchmakerError>(())
//! ```

mod backend;
mod config;
mod error;
mod matching;
mod matchmaker;
mod memory;
mod ticket;

pub use backend::{Backend, InsertError, TakeError, Taken, Unit, UnitMember};
pub use config::{MatchmakerConfig, QueueRules};
pub use error::MatchmakerError;
pub use matchmaker::{Backfill, Event, Match, Matchmaker};
pub use memory::InMemoryBackend;
pub use ticket::{
    EnqueueRequest, MAX_MATCH_SIZE, MAX_NAME_LEN, MAX_PROPERTIES, MAX_PROPERTY_KEY_LEN,
    MAX_PROPERTY_VALUE_LEN, QueueKey, SKILL_PROPERTY, Ticket,
};
