//! Sessions that outlive their transports: the registry used for resume, and
//! what rooms and the connection task share about a session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arbiter_protocol::{Codec, RoomId, ServerFrame, SessionId, SharedFrame};
use arbiter_room::Delivery;
use rustc_hash::FxHashMap;
use tokio::sync::watch;

use crate::directory::RoomHandle;
use crate::outbox::{Outbox, Push};
use crate::transport::DatagramTx;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A transport is attached.
    Active,
    /// The transport dropped at this instant; resumable until the TTL.
    Suspended(Instant),
    /// Gone for good.
    Ended,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) phase: Phase,
}

/// A session as rooms and transports share it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) project: Arc<str>,
    pub(crate) user_id: String,
    pub(crate) resume_token: String,
    pub(crate) outbox: Outbox,
    /// Rooms this session is a member of (or joining).
    pub(crate) rooms: Mutex<FxHashMap<RoomId, RoomHandle>>,
    pub(crate) conn: Mutex<Conn>,
    /// The generation of the transport that owns the session: incremented
    /// (under the `conn` lock) by every transport that takes it over, which
    /// wakes the previous one's reader.
    pub(crate) generation: watch::Sender<u64>,
    /// The codec of the current (or last) transport.
    pub(crate) codec: Mutex<Codec>,
    /// The unreliable path (QUIC datagrams), when the session has one.
    pub(crate) datagrams: Mutex<Option<Arc<dyn DatagramTx>>>,
}

impl std::fmt::Debug for dyn DatagramTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramTx")
            .field("max_size", &self.max_size())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    pub(crate) fn rooms(&self) -> MutexGuard<'_, FxHashMap<RoomId, RoomHandle>> {
        lock(&self.rooms)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Conn> {
        lock(&self.conn)
    }

    pub(crate) fn codec(&self) -> Codec {
        *lock(&self.codec)
    }

    pub(crate) fn set_codec(&self, codec: Codec) {
        *lock(&self.codec) = codec;
    }

    /// The datagram path, if any.
    pub(crate) fn datagram_path(&self) -> Option<Arc<dyn DatagramTx>> {
        lock(&self.datagrams).clone()
    }

    /// Makes `path` the session's datagram path (replacing any other).
    pub(crate) fn set_datagram_path(&self, path: Arc<dyn DatagramTx>) {
        *lock(&self.datagrams) = Some(path);
    }

    /// Removes `path` if it is still the session's datagram path.
    pub(crate) fn clear_datagram_path(&self, path: &Arc<dyn DatagramTx>) {
        let mut current = lock(&self.datagrams);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, path)) {
            *current = None;
        }
    }

    /// Sends an unreliable frame as a datagram when the session has a path
    /// and the encoded frame fits. Returns the bytes sent, or `None` when the
    /// caller should use the reliable path instead.
    pub(crate) fn try_datagram(&self, frame: &SharedFrame) -> Option<usize> {
        let path = self.datagram_path()?;
        let max = path.max_size()?;
        let bytes = frame.encoded(self.codec()).ok()?;
        let len = bytes.len();
        (len <= max && path.send(bytes)).then_some(len)
    }

    /// Queues a frame of the session's own (a reply, an error) in the current epoch.
    pub(crate) fn send(&self, frame: ServerFrame) -> Push {
        let epoch = self.outbox.epoch();
        self.outbox
            .push(epoch, SharedFrame::new(frame), Delivery::Reliable)
    }
}

/// Every live session, by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
}

impl Registry {
    pub(crate) fn insert(&self, session: Arc<Session>) {
        lock(&self.sessions).insert(session.id.clone(), session);
    }

    /// The session a resume pair names, when it is still resumable and belongs
    /// to `project`.
    pub(crate) fn find(&self, id: &SessionId, token: &str, project: &str) -> Option<Arc<Session>> {
        let session = lock(&self.sessions).get(id).cloned()?;
        let ok = &*session.project == project
            && arbiter_session::tokens_match(&session.resume_token, token)
            && session.conn().phase != Phase::Ended;
        ok.then_some(session)
    }

    /// The session a resume pair names, in any project (`session.attach`
    /// carries no project; the token is the proof).
    pub(crate) fn find_any_project(&self, id: &SessionId, token: &str) -> Option<Arc<Session>> {
        let session = lock(&self.sessions).get(id).cloned()?;
        arbiter_session::tokens_match(&session.resume_token, token).then_some(session)
    }

    /// A live session by id.
    pub(crate) fn get(&self, id: &SessionId) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &SessionId) {
        lock(&self.sessions).remove(id);
    }

    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).values().cloned().collect()
    }
}
