//! The client's protocol logic without I/O: request ids and their pending
//! answers, per-room replicas with acks and resyncs, and the routing of every
//! server frame to an answer, a frame to send, or an [`Event`].
//!
//! The async shell ([`crate::Client`]) owns the socket and calls into [`Core`]
//! under a mutex; tests drive it with plain values. `R` is whatever completes a
//! request (a oneshot sender in the shell, a number in tests).

use std::collections::HashMap;

use arbiter_protocol::{
    ClientFrame, ClientMessage, ErrorCode, Rid, RoomId, RpcOk, RpcResponse, ServerFrame,
    ServerMessage, StateAck, StatePatch, StateResync, StateSnapshot,
};
use tracing::{debug, warn};

use crate::error::ClientError;
use crate::event::Event;
use crate::replica::{PatchOutcome, Replica};

/// The result a request completes with.
pub(crate) type RpcResult = Result<RpcOk, ClientError>;

/// Automatic resyncs of one room in a row without a patch applied in between;
/// past this the client stops asking and reports [`Event::ReplicaFailed`].
pub(crate) const MAX_AUTO_RESYNCS: u32 = 3;

/// What the shell must do after feeding the core, in order.
#[derive(Debug)]
pub(crate) enum Output<R> {
    /// Encode and send this frame.
    Send(ClientFrame),
    /// Push this event to the user.
    Event(Event),
    /// Complete a request.
    Reply(R, RpcResult),
}

/// A request waiting for its answer.
#[derive(Debug)]
struct Pending<R> {
    /// `None` for the client's own requests (automatic resyncs).
    reply: Option<R>,
    /// Whether the frame has been written to a transport.
    sent: bool,
    /// `room.leave`: forget this room's replica once the leave succeeds.
    leaves: Option<RoomId>,
    /// `state.resync`: the room whose snapshot is awaited.
    resyncs: Option<RoomId>,
}

/// One room's sync state.
#[derive(Debug, Default)]
struct RoomSync {
    /// `None` until a valid snapshot arrived.
    replica: Option<Replica>,
    /// Patches applied since the last ack.
    since_ack: u32,
    /// A `state.resync` is in flight; don't ask again.
    resync_pending: bool,
    /// Failures (resyncs asked) since the last applied patch.
    failures: u32,
}

/// The sans-IO client core. See the module docs.
#[derive(Debug)]
pub(crate) struct Core<R> {
    next_rid: u64,
    pending: HashMap<Rid, Pending<R>>,
    rooms: HashMap<RoomId, RoomSync>,
    ack_every: u32,
    state_events: bool,
    closed: bool,
    /// Bumped whenever a replica changes, appears or goes away.
    version: u64,
}

impl<R> Core<R> {
    /// A core that acks every `ack_every` patches (0: never) and reports
    /// snapshot/patch events when `state_events`.
    pub(crate) fn new(ack_every: u32, state_events: bool) -> Core<R> {
        Core {
            next_rid: 0,
            pending: HashMap::new(),
            rooms: HashMap::new(),
            ack_every,
            state_events,
            closed: false,
            version: 0,
        }
    }

    /// A fresh request id, `"c-N"`.
    fn next_rid(&mut self) -> Rid {
        self.next_rid += 1;
        Rid::Str(format!("c-{}", self.next_rid))
    }

    /// Gives `frame` a fresh rid and records that `reply` awaits its answer.
    /// Fails when the core is closed.
    pub(crate) fn register(
        &mut self,
        frame: &mut ClientFrame,
        reply: R,
    ) -> Result<Rid, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        let rid = self.next_rid();
        frame.rid = Some(rid.clone());
        let mut pending = Pending {
            reply: Some(reply),
            sent: false,
            leaves: None,
            resyncs: None,
        };
        match &frame.msg {
            ClientMessage::RoomLeave(p) => pending.leaves = Some(p.room.clone()),
            ClientMessage::StateResync(p) => {
                // An explicit resync also gives a room that gave up another chance.
                if let Some(room) = self.rooms.get_mut(&p.room) {
                    room.resync_pending = true;
                    room.failures = 0;
                }
                pending.resyncs = Some(p.room.clone());
            }
            _ => {}
        }
        self.pending.insert(rid.clone(), pending);
        Ok(rid)
    }

    /// The request's frame was written to the transport.
    pub(crate) fn mark_sent(&mut self, rid: &Rid) {
        if let Some(p) = self.pending.get_mut(rid) {
            p.sent = true;
        }
    }

    /// Forgets a request (its caller stopped waiting).
    pub(crate) fn cancel(&mut self, rid: &Rid) {
        self.pending.remove(rid);
    }

    /// The number of requests awaiting an answer.
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the core was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// The replica of `room`, once its first snapshot arrived.
    pub(crate) fn replica(&self, room: &str) -> Option<&Replica> {
        self.rooms.get(room).and_then(|r| r.replica.as_ref())
    }

    /// The rooms that have a replica, sorted.
    pub(crate) fn rooms(&self) -> Vec<RoomId> {
        let mut rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, sync)| sync.replica.is_some())
            .map(|(room, _)| room.clone())
            .collect();
        rooms.sort();
        rooms
    }

    /// Counts replica changes; the shell publishes it to wake waiters.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The transport dropped: requests already sent fail with
    /// [`ClientError::ConnectionLost`] (their outcome is unknown), requests not
    /// yet sent stay queued, in-flight resyncs are forgotten. Replicas stay.
    pub(crate) fn on_transport_lost(&mut self, out: &mut Vec<Output<R>>) {
        let lost: Vec<Rid> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent || p.reply.is_none())
            .map(|(rid, _)| rid.clone())
            .collect();
        for rid in lost {
            if let Some(Pending {
                reply: Some(reply), ..
            }) = self.pending.remove(&rid)
            {
                out.push(Output::Reply(reply, Err(ClientError::ConnectionLost)));
            }
        }
        for room in self.rooms.values_mut() {
            room.resync_pending = false;
        }
    }

    /// The server started a new session: every room and replica is gone.
    pub(crate) fn on_session_lost(&mut self) {
        self.rooms.clear();
        self.version += 1;
    }

    /// The client is closing: every waiting request fails with
    /// [`ClientError::Closed`] and new ones are refused.
    pub(crate) fn close(&mut self, out: &mut Vec<Output<R>>) {
        self.closed = true;
        for (_, p) in self.pending.drain() {
            if let Some(reply) = p.reply {
                out.push(Output::Reply(reply, Err(ClientError::Closed)));
            }
        }
    }

    /// Routes one decoded server frame.
    pub(crate) fn on_frame(&mut self, frame: ServerFrame, out: &mut Vec<Output<R>>) {
        let ServerFrame { rid, room, msg } = frame;
        let event = match msg {
            ServerMessage::RpcResponse(response) => return self.on_response(rid, response, out),
            ServerMessage::Error(e) => {
                if let Some(reply) = rid.as_ref().and_then(|r| self.take_reply(r)) {
                    // A request that failed before it could be routed (rate
                    // limited, too large) is answered with `error`.
                    let err = ClientError::Rpc {
                        code: e.code,
                        reason: e.reason,
                    };
                    return out.push(Output::Reply(reply, Err(err)));
                }
                Event::Error {
                    code: e.code,
                    reason: e.reason,
                    rid,
                }
            }
            ServerMessage::StateSnapshot(s) => match room {
                Some(room) => return self.on_snapshot(room, &s, out),
                None => invalid("state.snapshot without a room"),
            },
            ServerMessage::StatePatch(p) => match room {
                Some(room) => return self.on_patch(room, &p, out),
                None => invalid("state.patch without a room"),
            },
            ServerMessage::RoomMessage(m) => match room {
                Some(room) => Event::Message {
                    room,
                    kind: m.kind,
                    data: m.data,
                    from: m.from,
                },
                None => invalid("room.message without a room"),
            },
            ServerMessage::RoomMessageBytes(m) => match room {
                Some(room) => Event::Bytes {
                    room,
                    kind: m.kind,
                    data: m.data,
                    from: m.from,
                },
                None => invalid("room.message.bytes without a room"),
            },
            ServerMessage::RoomClosed(c) => {
                if self.rooms.remove(&c.room).is_some() {
                    self.version += 1;
                }
                Event::RoomClosed {
                    room: c.room,
                    reason: c.reason,
                }
            }
            ServerMessage::PresenceState(p) => Event::PresenceState(p),
            ServerMessage::PresenceDiff(p) => Event::PresenceDiff(p),
            ServerMessage::MatchFound(m) => Event::MatchFound(m),
            ServerMessage::MatchTimeout(m) => Event::MatchTimeout(m),
            ServerMessage::Pong(_) | ServerMessage::SessionAttachOk(_) => return,
            ServerMessage::HandshakeOk(_) => invalid("handshake.ok after the handshake"),
        };
        out.push(Output::Event(event));
    }

    fn take_reply(&mut self, rid: &Rid) -> Option<R> {
        match self.pending.get(rid) {
            Some(p) if p.reply.is_some() => self.pending.remove(rid).and_then(|p| p.reply),
            _ => None,
        }
    }

    fn on_response(&mut self, rid: Option<Rid>, response: RpcResponse, out: &mut Vec<Output<R>>) {
        let Some(rid) = rid else {
            return out.push(Output::Event(invalid("rpc.response without a rid")));
        };
        let Some(pending) = self.pending.remove(&rid) else {
            debug!(%rid, "answer to a request nobody waits for");
            return;
        };
        let result = match response {
            RpcResponse::Ok(ok) => {
                if let Some(room) = &pending.leaves
                    && self.rooms.remove(room).is_some()
                {
                    self.version += 1;
                }
                Ok(ok)
            }
            RpcResponse::Err { code, reason } => {
                if let Some(room) = &pending.resyncs {
                    self.on_resync_refused(room, code, &reason);
                }
                Err(ClientError::Rpc { code, reason })
            }
        };
        if let Some(reply) = pending.reply {
            out.push(Output::Reply(reply, result));
        }
    }

    fn on_resync_refused(&mut self, room: &RoomId, code: ErrorCode, reason: &str) {
        if code == ErrorCode::RoomNotMember {
            // The server says we are not in the room: drop its stale replica.
            if self.rooms.remove(room).is_some() {
                self.version += 1;
            }
        } else if let Some(sync) = self.rooms.get_mut(room) {
            warn!(%room, %code, reason, "state.resync refused");
            sync.resync_pending = false;
        }
    }

    fn on_snapshot(&mut self, room: RoomId, snapshot: &StateSnapshot, out: &mut Vec<Output<R>>) {
        let sync = self.rooms.entry(room.clone()).or_default();
        sync.resync_pending = false;
        let applied = match &mut sync.replica {
            Some(replica) => replica.apply_snapshot(snapshot),
            None => Replica::from_snapshot(snapshot).map(|r| sync.replica = Some(r)),
        };
        match applied {
            Ok(()) => {
                sync.since_ack = 0;
                self.version += 1;
                if self.ack_every > 0
                    && let Some(replica) = &sync.replica
                {
                    out.push(Output::Send(ack(&room, replica)));
                }
                if self.state_events {
                    out.push(Output::Event(Event::Snapshot {
                        room,
                        seq: snapshot.seq,
                    }));
                }
            }
            Err(e) => self.desync(room, e.tag(), e.to_string(), out),
        }
    }

    fn on_patch(&mut self, room: RoomId, patch: &StatePatch, out: &mut Vec<Output<R>>) {
        let Some(sync) = self.rooms.get_mut(&room) else {
            debug!(%room, seq = %patch.seq, "patch for a room without a replica (left?)");
            return;
        };
        let Some(replica) = &mut sync.replica else {
            return self.desync(room, "no_snapshot", "patch before any snapshot".into(), out);
        };
        match replica.apply_patch(patch) {
            Ok(PatchOutcome::Applied) => {
                sync.failures = 0;
                sync.since_ack += 1;
                self.version += 1;
                if self.ack_every > 0 && sync.since_ack >= self.ack_every {
                    sync.since_ack = 0;
                    out.push(Output::Send(ack(&room, replica)));
                }
                if self.state_events {
                    out.push(Output::Event(Event::Patch {
                        room,
                        seq: patch.seq,
                    }));
                }
            }
            Ok(PatchOutcome::Duplicate) => {
                debug!(%room, seq = %patch.seq, "duplicate patch ignored");
            }
            Err(e) => self.desync(room, e.tag(), e.to_string(), out),
        }
    }

    /// The replica of `room` is out of step: ask for a snapshot, unless one is
    /// on its way or the room already gave up.
    fn desync(&mut self, room: RoomId, tag: &str, reason: String, out: &mut Vec<Output<R>>) {
        let Some(sync) = self.rooms.get_mut(&room) else {
            return;
        };
        if sync.resync_pending || sync.failures > MAX_AUTO_RESYNCS {
            return;
        }
        sync.failures += 1;
        if sync.failures > MAX_AUTO_RESYNCS {
            warn!(%room, reason, "replica keeps failing; automatic resync stopped");
            return out.push(Output::Event(Event::ReplicaFailed { room, reason }));
        }
        sync.resync_pending = true;
        debug!(%room, reason, "replica out of step; asking for a snapshot");
        let rid = self.next_rid();
        self.pending.insert(
            rid.clone(),
            Pending {
                reply: None,
                sent: false,
                leaves: None,
                resyncs: Some(room.clone()),
            },
        );
        let frame = ClientFrame::new(StateResync {
            room: room.clone(),
            reason: Some(tag.to_owned()),
        })
        .with_rid(rid);
        out.push(Output::Send(frame));
        out.push(Output::Event(Event::ResyncRequested { room, reason }));
    }
}

fn ack(room: &RoomId, replica: &Replica) -> ClientFrame {
    ClientFrame::new(StateAck {
        room: room.clone(),
        seq: replica.seq(),
        checksum: Some(replica.checksum()),
    })
}

fn invalid(reason: &str) -> Event {
    Event::InvalidFrame {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
