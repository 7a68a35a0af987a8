//! The in-memory [`Backend`]: one process, no persistence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arbiter_protocol::{SessionId, TicketId};

use crate::backend::{Backend, InsertError, TakeError, Taken, Unit, UnitMember};
use crate::ticket::{QueueKey, Ticket};

/// A party is named within its project and room type.
type PartyKey = (Arc<str>, Arc<str>, String);

#[derive(Debug)]
struct Party {
    key: QueueKey,
    /// Members in enqueue order.
    members: Vec<TicketId>,
}

/// The default backend: every map in this process's memory.
///
/// Costs: insert, remove and take are `O(log n)` per ticket; reading a queue
/// is linear in its length.
#[derive(Debug, Default)]
pub struct InMemoryBackend {
    tickets: HashMap<TicketId, Ticket>,
    sessions: HashMap<SessionId, Vec<TicketId>>,
    queues: HashMap<QueueKey, BTreeMap<u64, TicketId>>,
    parties: HashMap<PartyKey, Party>,
    paused: HashSet<SessionId>,
    expiry: BTreeMap<(Instant, u64), TicketId>,
}

impl InMemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tickets stored, in every queue.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether no ticket is stored.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }
}

fn party_key(t: &Ticket) -> Option<PartyKey> {
    t.party
        .as_ref()
        .map(|p| (t.key.project.clone(), t.key.room_type.clone(), p.clone()))
}

fn member(t: &Ticket) -> UnitMember {
    UnitMember {
        ticket: t.id.clone(),
        session: t.session.clone(),
        skill: t.skill,
        enqueued_at: t.enqueued_at,
        seq: t.seq,
    }
}

impl InMemoryBackend {
    fn remove_one(&mut self, id: &TicketId) -> Option<Ticket> {
        let t = self.tickets.remove(id)?;
        if let Some(list) = self.sessions.get_mut(&t.session) {
            list.retain(|x| x != id);
            if list.is_empty() {
                self.sessions.remove(&t.session);
            }
        }
        if let Some(q) = self.queues.get_mut(&t.key) {
            q.remove(&t.seq);
            if q.is_empty() {
                self.queues.remove(&t.key);
            }
        }
        if let Some(pk) = party_key(&t)
            && let Some(party) = self.parties.get_mut(&pk)
        {
            party.members.retain(|x| x != id);
            if party.members.is_empty() {
                self.parties.remove(&pk);
            }
        }
        self.expiry.remove(&(t.expires_at, t.seq));
        Some(t)
    }

    fn is_active(&self, id: &TicketId) -> bool {
        self.tickets
            .get(id)
            .is_some_and(|t| !self.paused.contains(&t.session))
    }
}

impl Backend for InMemoryBackend {
    fn insert(&mut self, ticket: Ticket) -> Result<(), InsertError> {
        if self.tickets.contains_key(&ticket.id) {
            return Err(InsertError::DuplicateId);
        }
        let dup = self.sessions.get(&ticket.session).is_some_and(|ids| {
            ids.iter().filter_map(|id| self.tickets.get(id)).any(|t| {
                t.key.project == ticket.key.project && t.key.room_type == ticket.key.room_type
            })
        });
        if dup {
            return Err(InsertError::AlreadyQueued);
        }
        if let Some(pk) = party_key(&ticket) {
            if let Some(party) = self.parties.get(&pk) {
                if party.key != ticket.key {
                    return Err(InsertError::PartyMismatch {
                        size: party.key.size,
                    });
                }
                let members = u32::try_from(party.members.len()).unwrap_or(u32::MAX);
                if members >= ticket.key.size {
                    return Err(InsertError::PartyFull { members });
                }
            }
            let party = self.parties.entry(pk).or_insert_with(|| Party {
                key: ticket.key.clone(),
                members: Vec::new(),
            });
            party.members.push(ticket.id.clone());
        }
        self.sessions
            .entry(ticket.session.clone())
            .or_default()
            .push(ticket.id.clone());
        self.queues
            .entry(ticket.key.clone())
            .or_default()
            .insert(ticket.seq, ticket.id.clone());
        self.expiry
            .insert((ticket.expires_at, ticket.seq), ticket.id.clone());
        self.tickets.insert(ticket.id.clone(), ticket);
        Ok(())
    }

    fn remove(&mut self, ticket: &TicketId) -> Option<Ticket> {
        self.remove_one(ticket)
    }

    fn remove_session(&mut self, session: &SessionId) -> Vec<Ticket> {
        self.paused.remove(session);
        let ids = self.sessions.get(session).cloned().unwrap_or_default();
        ids.iter().filter_map(|id| self.remove_one(id)).collect()
    }

    fn ticket(&self, ticket: &TicketId) -> Option<Ticket> {
        self.tickets.get(ticket).cloned()
    }

    fn session_tickets(&self, session: &SessionId) -> Vec<Ticket> {
        self.sessions
            .get(session)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tickets.get(id).cloned())
            .collect()
    }

    fn set_paused(&mut self, session: &SessionId, paused: bool) -> Vec<QueueKey> {
        if paused {
            self.paused.insert(session.clone());
        } else {
            self.paused.remove(session);
        }
        self.session_tickets(session)
            .into_iter()
            .map(|t| t.key)
            .collect()
    }

    fn active_units(&self, key: &QueueKey) -> Vec<Unit> {
        let Some(queue) = self.queues.get(key) else {
            return Vec::new();
        };
        let mut seen_parties: HashSet<&str> = HashSet::new();
        let mut units = Vec::new();
        for id in queue.values() {
            let Some(t) = self.tickets.get(id) else {
                continue;
            };
            let Some(pk) = party_key(t) else {
                if !self.paused.contains(&t.session) {
                    units.push(Unit {
                        members: vec![member(t)],
                        party: None,
                    });
                }
                continue;
            };
            let Some(party) = self.parties.get(&pk) else {
                continue;
            };
            let Some(name) = t.party.as_deref() else {
                continue;
            };
            if !seen_parties.insert(name) {
                continue;
            }
            if !party.members.iter().all(|m| self.is_active(m)) {
                continue;
            }
            let mut members: Vec<UnitMember> = party
                .members
                .iter()
                .filter_map(|m| self.tickets.get(m).map(member))
                .collect();
            members.sort_by_key(|m| m.seq);
            units.push(Unit {
                members,
                party: t.party.clone(),
            });
        }
        units
    }

    fn take(&mut self, tickets: &[TicketId]) -> Result<Taken, TakeError> {
        if let Some(missing) = tickets.iter().find(|id| !self.is_active(id)) {
            return Err(TakeError::Conflict(missing.clone()));
        }
        let taken: Vec<Ticket> = tickets
            .iter()
            .filter_map(|id| self.remove_one(id))
            .collect();
        let mut withdrawn = Vec::new();
        for t in &taken {
            let others = self.sessions.get(&t.session).cloned().unwrap_or_default();
            withdrawn.extend(others.iter().filter_map(|id| self.remove_one(id)));
        }
        Ok(Taken {
            tickets: taken,
            withdrawn,
        })
    }

    fn expire(&mut self, now: Instant) -> Vec<Ticket> {
        let due: Vec<TicketId> = self
            .expiry
            .range(..=(now, u64::MAX))
            .map(|(_, id)| id.clone())
            .collect();
        due.iter().filter_map(|id| self.remove_one(id)).collect()
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.expiry.keys().next().map(|(at, _)| *at)
    }

    fn queue_len(&self, key: &QueueKey) -> usize {
        self.queues.get(key).map_or(0, BTreeMap::len)
    }

    fn queue_lens(&self) -> Vec<(QueueKey, usize)> {
        self.queues
            .iter()
            .map(|(k, q)| (k.clone(), q.len()))
            .collect()
    }
}
