//! The [`Matchmaker`]: enqueue, dequeue, pause, poll.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbiter_protocol::{SessionId, TicketId};
use serde_json::{Map, Value, json};

use crate::MatchmakerError;
use crate::backend::{Backend, InsertError, Taken, Unit};
use crate::config::{MatchmakerConfig, QueueRules};
use crate::matching::{Candidate, form_groups, next_wake};
use crate::memory::InMemoryBackend;
use crate::ticket::{EnqueueRequest, QueueKey, Ticket, new_ticket_id, validate};

/// A formed match: create a room with [`Match::options`] and reserve a seat
/// for each participant.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The project.
    pub project: Arc<str>,
    /// The room type to create.
    pub room_type: String,
    /// Players in the match (`participants.len()`).
    pub size: u32,
    /// The common string properties of every ticket.
    pub properties: BTreeMap<String, String>,
    /// Each participant's session and ticket, oldest ticket first.
    pub participants: Vec<(SessionId, TicketId)>,
    /// How long each participant waited, in the order of `participants`.
    pub waited: Vec<Duration>,
    /// The create options for the room:
    /// `{ "match": { "size", "properties", "participants": [session ids], "skill"?, "parties"? } }`
    /// (`skill`: the mean of the participants' skills, when any has one;
    /// `parties`: party id → its sessions, when any party is in the match).
    pub options: Value,
    /// The participants' tickets for other room types, removed because a
    /// session is never in two matches.
    pub withdrawn: Vec<Ticket>,
}

/// Seats to fill in a live matched room (see [`Matchmaker::backfill`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    /// The room's project.
    pub project: Arc<str>,
    /// Its room type.
    pub room_type: String,
    /// Its match's size.
    pub size: u32,
    /// Its match's string properties.
    pub properties: BTreeMap<String, String>,
    /// Its match's mean skill, if any.
    pub skill: Option<f64>,
    /// Free seats.
    pub free: u32,
}

/// What [`Matchmaker::poll`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A match formed; its tickets left the queue.
    Matched(Match),
    /// A ticket waited longer than its room type's `ticket_ttl` and left the
    /// queue (send `match.timeout` to the session).
    TimedOut {
        /// The project.
        project: Arc<str>,
        /// The ticket's session.
        session: SessionId,
        /// The room type it was queued for.
        room_type: String,
        /// The ticket.
        ticket: TicketId,
    },
}

#[derive(Debug, Default)]
struct QueueState {
    /// Something changed since the queue was last evaluated.
    dirty: bool,
    /// When widening windows could next let it form a match.
    wake: Option<Instant>,
    /// When it was last examined.
    last_eval: Option<Instant>,
}

impl QueueState {
    /// The earliest instant the queue may be examined again.
    fn not_before(&self, interval: Duration) -> Option<Instant> {
        self.last_eval.and_then(|t| t.checked_add(interval))
    }

    /// When the queue next wants an examination, given the latest `now` seen.
    fn deadline(&self, interval: Duration, last_now: Option<Instant>) -> Option<Instant> {
        let want = if self.dirty { last_now } else { self.wake }?;
        Some(self.not_before(interval).map_or(want, |nb| nb.max(want)))
    }

    fn is_due(&self, interval: Duration, now: Instant) -> bool {
        let wants = self.dirty || self.wake.is_some_and(|w| w <= now);
        wants && self.not_before(interval).is_none_or(|nb| nb <= now)
    }
}

/// The matchmaker: queues of tickets and the rules that match them. Sans-IO:
/// the caller passes `now`, calls [`Matchmaker::poll`] at
/// [`Matchmaker::next_deadline`] and after input, and acts on the events.
#[derive(Debug)]
pub struct Matchmaker<B: Backend = InMemoryBackend> {
    config: MatchmakerConfig,
    backend: B,
    queues: HashMap<QueueKey, QueueState>,
    next_seq: u64,
    /// The latest `now` seen; the deadline of pending (dirty) work.
    last_now: Option<Instant>,
}

impl Default for Matchmaker {
    fn default() -> Self {
        Matchmaker::new(MatchmakerConfig::default(), InMemoryBackend::new())
    }
}

impl<B: Backend> Matchmaker<B> {
    /// A matchmaker with these rules over this backend.
    pub fn new(config: MatchmakerConfig, backend: B) -> Self {
        Matchmaker {
            config,
            backend,
            queues: HashMap::new(),
            next_seq: 0,
            last_now: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MatchmakerConfig {
        &self.config
    }

    /// The backend, e.g. to inspect stored tickets.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn see(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
    }

    fn mark_dirty(&mut self, key: QueueKey) {
        self.queues.entry(key).or_default().dirty = true;
    }

    /// Queues a ticket. Errors: [`MatchmakerError::Invalid`] for a bad field,
    /// [`MatchmakerError::AlreadyQueued`] when the session already has a
    /// ticket for this project and room type.
    pub fn enqueue(
        &mut self,
        req: EnqueueRequest,
        now: Instant,
    ) -> Result<TicketId, MatchmakerError> {
        let valid = validate(&req)?;
        self.see(now);
        let rules = self.config.rules_for(&req.room_type);
        let expires_at = now
            .checked_add(rules.ticket_ttl)
            .or_else(|| now.checked_add(Duration::from_secs(86_400)))
            .unwrap_or(now);
        let key = QueueKey {
            project: req.project.clone(),
            room_type: Arc::from(req.room_type.as_str()),
            size: req.size,
            properties: Arc::new(valid.properties),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut attempts = 0;
        loop {
            let ticket = Ticket {
                id: new_ticket_id(),
                key: key.clone(),
                session: req.session.clone(),
                skill: valid.skill,
                party: req.party.clone(),
                enqueued_at: now,
                expires_at,
                seq,
            };
            let id = ticket.id.clone();
            match self.backend.insert(ticket) {
                Ok(()) => {
                    self.mark_dirty(key);
                    return Ok(id);
                }
                Err(InsertError::DuplicateId) if attempts < 3 => attempts += 1,
                Err(err) => return Err(insert_error(err, &req)),
            }
        }
    }

    /// Removes the session's tickets of this project, for one room type or
    /// all; returns how many were removed.
    pub fn dequeue(&mut self, project: &str, session: &SessionId, room_type: Option<&str>) -> u32 {
        let mut removed = 0;
        for t in self.backend.session_tickets(session) {
            let wanted =
                &*t.key.project == project && room_type.is_none_or(|rt| *t.key.room_type == *rt);
            if wanted && self.backend.remove(&t.id).is_some() {
                removed += 1;
                self.mark_dirty(t.key);
            }
        }
        removed
    }

    /// The session is suspended: its tickets keep their place but are not
    /// matched (nor is any party it belongs to) until it resumes.
    pub fn pause_session(&mut self, session: &SessionId) {
        for key in self.backend.set_paused(session, true) {
            self.mark_dirty(key);
        }
    }

    /// The session resumed: its tickets are matched again, from their old place.
    pub fn resume_session(&mut self, session: &SessionId) {
        for key in self.backend.set_paused(session, false) {
            self.mark_dirty(key);
        }
    }

    /// The session ended: drops its tickets (without events); returns how many.
    pub fn remove_session(&mut self, session: &SessionId) -> u32 {
        let removed = self.backend.remove_session(session);
        let n = u32::try_from(removed.len()).unwrap_or(u32::MAX);
        for t in removed {
            self.mark_dirty(t.key);
        }
        n
    }

    /// Expires tickets past their `ticket_ttl`, then forms every match
    /// possible now. Call it after input and at [`Matchmaker::next_deadline`].
    pub fn poll(&mut self, now: Instant) -> Vec<Event> {
        self.see(now);
        let mut events = Vec::new();
        for t in self.backend.expire(now) {
            events.push(Event::TimedOut {
                project: t.key.project.clone(),
                session: t.session.clone(),
                room_type: t.key.room_type.to_string(),
                ticket: t.id.clone(),
            });
            self.mark_dirty(t.key);
        }
        let mut conflicts = Vec::new();
        let interval = self.config.min_eval_interval;
        loop {
            let mut due: Vec<QueueKey> = self
                .queues
                .iter()
                .filter(|(_, s)| s.is_due(interval, now))
                .map(|(k, _)| k.clone())
                .collect();
            if due.is_empty() {
                break;
            }
            due.sort();
            for key in due {
                self.evaluate(&key, now, &mut events, &mut conflicts);
            }
        }
        for key in conflicts {
            self.mark_dirty(key);
        }
        let backend = &self.backend;
        self.queues.retain(|k, _| backend.queue_len(k) > 0);
        events
    }

    fn evaluate(
        &mut self,
        key: &QueueKey,
        now: Instant,
        events: &mut Vec<Event>,
        conflicts: &mut Vec<QueueKey>,
    ) {
        let rules = self.config.rules_for(&key.room_type).clone();
        let (units, settle_wake) = settled_units(self.backend.active_units(key), &rules, now);
        let cands: Vec<Candidate> = units.iter().map(|u| candidate(u, &rules, now)).collect();
        let groups = form_groups(&cands, key.size);
        let mut matched = vec![false; units.len()];
        for group in groups {
            let mut ids = Vec::new();
            for &i in &group {
                if let Some(u) = units.get(i) {
                    ids.extend(u.members.iter().map(|m| m.ticket.clone()));
                }
            }
            match self.backend.take(&ids) {
                Ok(taken) => {
                    for &i in &group {
                        if let Some(flag) = matched.get_mut(i) {
                            *flag = true;
                        }
                    }
                    let group_units: Vec<&Unit> =
                        group.iter().filter_map(|&i| units.get(i)).collect();
                    let m = build_match(key, &group_units, taken, now);
                    for w in &m.withdrawn {
                        self.mark_dirty(w.key.clone());
                    }
                    events.push(Event::Matched(m));
                }
                Err(err) => {
                    tracing::debug!(%err, "matchmaker: match not taken, queue read again next poll");
                    conflicts.push(key.clone());
                }
            }
        }
        let rest: Vec<(Instant, Option<f64>)> = units
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !**m)
            .map(|(u, _)| (u.since().unwrap_or(now), u.skill()))
            .collect();
        let state = self.queues.entry(key.clone()).or_default();
        state.dirty = false;
        state.last_eval = Some(now);
        state.wake = match (next_wake(&rest, &rules, now), settle_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// When [`Matchmaker::poll`] could next produce an event without new
    /// input: a ticket's expiry, a skill window widening enough for a match,
    /// or (at or before the latest `now` seen) pending input to evaluate.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut best = self.backend.next_expiry();
        let interval = self.config.min_eval_interval;
        for s in self.queues.values() {
            if let Some(t) = s.deadline(interval, self.last_now) {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        }
        best
    }

    /// Backfill (issue 7): `free` seats opened in a live matched room of
    /// `room_type` whose match had `size` players, these string `properties`
    /// and mean `skill`. Takes the oldest active units of that queue that fit
    /// in the seats (a party only whole) and, when both sides have a skill,
    /// within the unit's window of the room's skill. Atomic like a match: the
    /// taken sessions' other tickets are withdrawn. Returns each taken
    /// participant with its ticket and waiting time, oldest first.
    pub fn backfill(
        &mut self,
        fill: &Backfill,
        now: Instant,
    ) -> Vec<(SessionId, TicketId, Duration)> {
        if fill.free == 0 {
            return Vec::new();
        }
        self.see(now);
        let key = QueueKey {
            project: fill.project.clone(),
            room_type: Arc::from(fill.room_type.as_str()),
            size: fill.size,
            properties: Arc::new(fill.properties.clone()),
        };
        let rules = self.config.rules_for(&fill.room_type).clone();
        let mut ids = Vec::new();
        let mut seats = 0u32;
        for unit in self.backend.active_units(&key) {
            if seats + unit.len() > fill.free {
                continue;
            }
            if let (Some(room), Some(theirs)) = (fill.skill, unit.skill()) {
                let waited = unit
                    .since()
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                if (room - theirs).abs() > rules.window(waited) {
                    continue;
                }
            }
            seats += unit.len();
            ids.extend(unit.members.iter().map(|m| m.ticket.clone()));
            if seats == fill.free {
                break;
            }
        }
        if ids.is_empty() {
            return Vec::new();
        }
        match self.backend.take(&ids) {
            Ok(taken) => {
                self.mark_dirty(key);
                taken
                    .tickets
                    .into_iter()
                    .map(|t| {
                        let waited = now.saturating_duration_since(t.enqueued_at);
                        (t.session, t.id, waited)
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Tickets queued (paused ones included) for one project and room type.
    pub fn queue_len(&self, project: &str, room_type: &str) -> usize {
        self.backend
            .queue_lens()
            .into_iter()
            .filter(|(k, _)| &*k.project == project && &*k.room_type == room_type)
            .map(|(_, n)| n)
            .sum()
    }

    /// Tickets queued per room type, over every project, sorted by room type
    /// (for the queue-size gauge).
    pub fn queue_lens(&self) -> Vec<(String, usize)> {
        let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
        for (k, n) in self.backend.queue_lens() {
            *by_type.entry(k.room_type.to_string()).or_default() += n;
        }
        by_type.into_iter().collect()
    }

    /// How long a queued ticket has waited, `None` when it is not queued.
    pub fn ticket_age(&self, ticket: &TicketId, now: Instant) -> Option<Duration> {
        self.backend
            .ticket(ticket)
            .map(|t| now.saturating_duration_since(t.enqueued_at))
    }
}

fn insert_error(err: InsertError, req: &EnqueueRequest) -> MatchmakerError {
    let party = req.party.as_deref().unwrap_or_default();
    match err {
        InsertError::AlreadyQueued => MatchmakerError::AlreadyQueued {
            session: req.session.clone(),
            room_type: req.room_type.clone(),
        },
        InsertError::PartyMismatch { size } => MatchmakerError::Invalid(format!(
            "matchmaking.enqueue: party {party:?} is queued for room type {:?} with size {size} \
             and other properties; every member must enqueue with the same size and string properties",
            req.room_type
        )),
        InsertError::PartyFull { members } => MatchmakerError::Invalid(format!(
            "matchmaking.enqueue: party {party:?} already has {members} members, \
             a match of size {} has no seat for another",
            req.size
        )),
        InsertError::DuplicateId => {
            MatchmakerError::Unavailable("could not draw a free ticket id".into())
        }
        InsertError::Unavailable(reason) => MatchmakerError::Unavailable(reason),
    }
}

/// Leaves out parties whose newest member joined less than `party_settle`
/// ago (the rest of the party may still be on its way); returns the others
/// and when the first left-out party settles.
fn settled_units(
    units: Vec<Unit>,
    rules: &QueueRules,
    now: Instant,
) -> (Vec<Unit>, Option<Instant>) {
    let mut wake: Option<Instant> = None;
    let settled = units
        .into_iter()
        .filter(|u| {
            if u.party.is_none() {
                return true;
            }
            let newest = u.members.iter().map(|m| m.enqueued_at).max();
            match newest.and_then(|n| n.checked_add(rules.party_settle)) {
                Some(at) if at > now => {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    false
                }
                _ => true,
            }
        })
        .collect();
    (settled, wake)
}

fn candidate(u: &Unit, rules: &QueueRules, now: Instant) -> Candidate {
    let waited = u
        .since()
        .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
    Candidate {
        members: u.len(),
        skill: u.skill(),
        window: rules.window(waited),
    }
}

fn build_match(key: &QueueKey, units: &[&Unit], taken: Taken, now: Instant) -> Match {
    let mut members: Vec<_> = units.iter().flat_map(|u| u.members.iter()).collect();
    members.sort_by_key(|m| m.seq);
    let participants: Vec<(SessionId, TicketId)> = members
        .iter()
        .map(|m| (m.session.clone(), m.ticket.clone()))
        .collect();
    let waited = members
        .iter()
        .map(|m| now.saturating_duration_since(m.enqueued_at))
        .collect();
    let skills: Vec<f64> = members.iter().filter_map(|m| m.skill).collect();
    let mut inner = Map::new();
    inner.insert("size".into(), json!(key.size));
    inner.insert("properties".into(), json!(*key.properties));
    let sessions: Vec<&str> = participants.iter().map(|(s, _)| s.as_str()).collect();
    inner.insert("participants".into(), json!(sessions));
    if !skills.is_empty() {
        let mean = skills.iter().sum::<f64>() / skills.len() as f64;
        inner.insert("skill".into(), json!(mean));
    }
    let parties: BTreeMap<&str, Vec<&str>> = units
        .iter()
        .filter_map(|u| {
            let sessions = u.members.iter().map(|m| m.session.as_str()).collect();
            u.party.as_deref().map(|p| (p, sessions))
        })
        .collect();
    if !parties.is_empty() {
        inner.insert("parties".into(), json!(parties));
    }
    Match {
        project: key.project.clone(),
        room_type: key.room_type.to_string(),
        size: key.size,
        properties: (*key.properties).clone(),
        participants,
        waited,
        options: json!({ "match": inner }),
        withdrawn: taken.withdrawn,
    }
}
