//! The room directory: every live room by project and id, with the public
//! facts `room.list` and the admin API show, and seat accounting that keeps
//! concurrent joins from overfilling a room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arbiter_protocol::{RoomId, RoomInfo};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::room_actor::RoomCmd;

/// Facts about a room, written by its actor, read by anyone.
#[derive(Debug)]
pub(crate) struct RoomFacts {
    pub(crate) id: RoomId,
    pub(crate) room_type: String,
    pub(crate) project: Arc<str>,
    /// Members plus joins in flight.
    pub(crate) seats: AtomicU32,
    pub(crate) clients: AtomicU32,
    /// 0: no limit.
    pub(crate) max_clients: AtomicU32,
    pub(crate) locked: AtomicBool,
    /// The create hook succeeded.
    pub(crate) ready: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) seq: AtomicU64,
    pub(crate) metadata: Mutex<Map<String, Value>>,
}

impl RoomFacts {
    pub(crate) fn new(id: RoomId, room_type: String, project: Arc<str>) -> RoomFacts {
        RoomFacts {
            id,
            room_type,
            project,
            seats: AtomicU32::new(0),
            clients: AtomicU32::new(0),
            max_clients: AtomicU32::new(0),
            locked: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            metadata: Mutex::new(Map::new()),
        }
    }

    pub(crate) fn metadata(&self) -> MutexGuard<'_, Map<String, Value>> {
        self.metadata.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a seat if one is free in an open, ready room.
    fn try_take_seat(&self) -> bool {
        if !self.ready.load(Ordering::Acquire)
            || self.closed.load(Ordering::Acquire)
            || self.locked.load(Ordering::Acquire)
        {
            return false;
        }
        let max = self.max_clients.load(Ordering::Acquire);
        self.seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Counts a join in flight without a check (the room itself refuses).
    pub(crate) fn take_seat(&self) {
        self.seats.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn release_seat(&self) {
        let _ = self
            .seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(crate) fn info(&self) -> RoomInfo {
        let max = self.max_clients.load(Ordering::Acquire);
        RoomInfo {
            room: self.id.clone(),
            room_type: self.room_type.clone(),
            clients: self.clients.load(Ordering::Acquire),
            max_clients: (max > 0).then_some(max),
            locked: self.locked.load(Ordering::Acquire),
            metadata: self.metadata().clone(),
        }
    }
}

/// A way to reach a room.
#[derive(Debug, Clone)]
pub(crate) struct RoomHandle {
    pub(crate) tx: mpsc::Sender<RoomCmd>,
    pub(crate) facts: Arc<RoomFacts>,
}

/// A room as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSummary {
    /// The owning project.
    pub project: String,
    /// Room id.
    pub room: String,
    /// Room type.
    pub room_type: String,
    /// Members (suspended ones included).
    pub clients: u32,
    /// Seats, `null` for no limit.
    pub max_clients: Option<u32>,
    /// Whether joins are refused.
    pub locked: bool,
    /// Public metadata.
    pub metadata: Map<String, Value>,
    /// Seq of the last patch.
    pub seq: u64,
}

type Key = (Arc<str>, RoomId);

/// Every room of the server.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    rooms: Mutex<HashMap<Key, RoomHandle>>,
}

impl Directory {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, RoomHandle>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room `id` of `project`, or a new one made by `spawn` (under the
    /// directory's lock, so that concurrent calls for a new id make one room).
    /// The bool is true when this call created it.
    pub(crate) fn get_or_create(
        &self,
        project: &Arc<str>,
        id: &RoomId,
        spawn: impl FnOnce() -> RoomHandle,
    ) -> (RoomHandle, bool) {
        let mut rooms = self.lock();
        let key = (project.clone(), id.clone());
        if let Some(h) = rooms.get(&key)
            && !h.tx.is_closed()
        {
            return (h.clone(), false);
        }
        let handle = spawn();
        rooms.insert(key, handle.clone());
        (handle, true)
    }

    /// An open room of `room_type` in `project` with a free seat, with the seat
    /// already taken for the caller.
    pub(crate) fn find_open(&self, project: &str, room_type: &str) -> Option<RoomHandle> {
        let rooms = self.lock();
        rooms
            .values()
            .filter(|h| &*h.facts.project == project && h.facts.room_type == room_type)
            .find(|h| !h.tx.is_closed() && h.facts.try_take_seat())
            .cloned()
    }

    /// Removes the entry for `facts`' room if it is still that room.
    pub(crate) fn remove(&self, facts: &Arc<RoomFacts>) {
        let mut rooms = self.lock();
        let key = (facts.project.clone(), facts.id.clone());
        if rooms
            .get(&key)
            .is_some_and(|h| Arc::ptr_eq(&h.facts, facts))
        {
            rooms.remove(&key);
        }
    }

    /// `room.list` for a project.
    pub(crate) fn list(&self, project: &str, room_type: Option<&str>) -> Vec<RoomInfo> {
        let mut list: Vec<RoomInfo> = self
            .lock()
            .values()
            .map(|h| &h.facts)
            .filter(|f| &*f.project == project)
            .filter(|f| room_type.is_none_or(|t| t == f.room_type))
            .filter(|f| f.ready.load(Ordering::Acquire) && !f.closed.load(Ordering::Acquire))
            .map(|f| f.info())
            .collect();
        list.sort_by(|a, b| a.room.cmp(&b.room));
        list
    }

    pub(crate) fn summaries(&self) -> Vec<RoomSummary> {
        let mut list: Vec<RoomSummary> = self
            .lock()
            .values()
            .map(|h| {
                let f = &h.facts;
                let info = f.info();
                RoomSummary {
                    project: f.project.to_string(),
                    room: info.room.into_string(),
                    room_type: info.room_type,
                    clients: info.clients,
                    max_clients: info.max_clients,
                    locked: info.locked,
                    metadata: info.metadata,
                    seq: f.seq.load(Ordering::Acquire),
                }
            })
            .collect();
        list.sort_by(|a, b| (&a.project, &a.room).cmp(&(&b.project, &b.room)));
        list
    }

    pub(crate) fn handles(&self) -> Vec<RoomHandle> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
