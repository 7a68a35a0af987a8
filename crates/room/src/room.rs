//! The room state machine: committed state, pending ops, seq, history, and the
//! plugin hooks around them. Membership handlers are in `members.rs`.

use std::sync::Arc;

use arbiter_plugin_abi::{
    Client, CreateInput, DisposeInput, HookOutput, OutMessage, RestoreInput, Settings, Target,
    TickInput,
};
use arbiter_protocol::{
    Checksum, ErrorCode, Rid, RoomClosed, RoomId, RpcResponse, Seq, ServerFrame, ServerRoomBytes,
    ServerRoomMessage, SessionId, SharedFrame, StatePatch, StateSnapshot,
};
use arbiter_state::PatchOp;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::config::{RoomConfig, matches_type};
use crate::history::History;
use crate::logic::{LogicError, RoomLogic};
use crate::output::{Delivery, Output};

/// What a room is created from.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomInit {
    /// The room id.
    pub id: RoomId,
    /// The room type (plugin name).
    pub room_type: String,
    /// The creating request's `options`.
    pub options: Value,
    /// Unix time in milliseconds.
    pub now_ms: u64,
}

/// A member of the room.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) user_id: String,
    pub(crate) presence: Value,
    /// Highest seq the client acknowledged.
    pub(crate) last_ack: Seq,
    /// False while the session is suspended: nothing is sent to it.
    pub(crate) active: bool,
}

/// One room: its authoritative state, members and logic. Sans-IO: the driver
/// calls a method per event with the current time and then takes the room's
/// [`Output`]s with [`Room::drain_output`].
pub struct Room<L: RoomLogic> {
    pub(crate) id: RoomId,
    pub(crate) room_type: String,
    pub(crate) options: Value,
    pub(crate) logic: L,
    pub(crate) config: RoomConfig,
    pub(crate) settings: Settings,
    pub(crate) locked: bool,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) state: Value,
    pub(crate) seq: Seq,
    pub(crate) checksum: Checksum,
    pending: Vec<PatchOp>,
    since_checksum: u32,
    pub(crate) history: History,
    pub(crate) members: FxHashMap<SessionId, Member>,
    /// Seats held for matched sessions, with their expiry (Unix ms).
    pub(crate) reservations: FxHashMap<SessionId, u64>,
    errors: u32,
    close_after: Option<String>,
    closed: Option<String>,
    last_tick_ms: u64,
    pub(crate) out: Vec<Output>,
}

impl<L: RoomLogic> std::fmt::Debug for Room<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("id", &self.id)
            .field("room_type", &self.room_type)
            .field("seq", &self.seq)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn state_checksum(state: &Value) -> Checksum {
    Checksum(arbiter_state::checksum(state).as_u64())
}

impl<L: RoomLogic> Room<L> {
    /// Runs the create hook and commits its output. A failure here means there
    /// is no room.
    pub fn create(init: RoomInit, mut logic: L, config: RoomConfig) -> Result<Room<L>, LogicError> {
        let (settings, output) = logic.create(&CreateInput {
            room: init.id.as_str().to_owned(),
            room_type: init.room_type.clone(),
            options: init.options.clone(),
            now_ms: init.now_ms,
        })?;
        let mut state = Value::Object(Map::new());
        logic.commit(&mut state, &output)?;
        let metadata = match &settings.metadata {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let checksum = state_checksum(&state);
        let mut room = Room {
            id: init.id,
            room_type: init.room_type,
            options: init.options,
            logic,
            history: History::new(config.patch_history, config.max_replay),
            config,
            settings,
            locked: false,
            metadata,
            state,
            seq: Seq(0),
            checksum,
            pending: Vec::new(),
            since_checksum: 0,
            members: FxHashMap::default(),
            reservations: FxHashMap::default(),
            errors: 0,
            close_after: None,
            closed: None,
            last_tick_ms: init.now_ms,
            out: Vec::new(),
        };
        room.effects(output);
        Ok(room)
    }

    /// The room id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }
    /// The room type.
    pub fn room_type(&self) -> &str {
        &self.room_type
    }
    /// The settings the plugin returned at creation.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    /// Seats, or `None` for no limit.
    pub fn max_clients(&self) -> Option<u32> {
        (self.settings.max_clients > 0).then_some(self.settings.max_clients)
    }
    /// Ticks per second (0: event-driven).
    pub fn tick_rate(&self) -> u32 {
        self.settings.tick_rate
    }
    /// Seats held for sessions that have not joined yet.
    pub fn reserved(&self) -> usize {
        self.reservations.len()
    }
    /// Members, suspended ones included.
    pub fn clients(&self) -> usize {
        self.members.len()
    }
    /// Whether `session` is a member.
    pub fn is_member(&self, session: &SessionId) -> bool {
        self.members.contains_key(session)
    }
    /// Whether new joins are refused.
    pub fn locked(&self) -> bool {
        self.locked
    }
    /// Public metadata (`room.list`).
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }
    /// The committed state (including changes not yet sent as a patch).
    pub fn state(&self) -> &Value {
        &self.state
    }
    /// The seq of the last patch sent.
    pub fn seq(&self) -> Seq {
        self.seq
    }
    /// Failed hooks so far.
    pub fn errors(&self) -> u32 {
        self.errors
    }
    /// `Some(reason)` once the room has closed.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }
    /// Changes waiting for the next patch.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes what the driver must do, in order.
    pub fn drain_output(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// Runs the tick hook and sends its changes (and every change since the
    /// last patch) as one patch.
    pub fn tick(&mut self, now_ms: u64) {
        if self.closed.is_some() {
            return;
        }
        let dt_ms = now_ms.saturating_sub(self.last_tick_ms);
        self.last_tick_ms = now_ms;
        if let Some(out) = self.run_hook(now_ms, |l| l.tick(&TickInput { dt_ms, now_ms })) {
            self.effects(out);
        }
        self.flush();
        self.finish(now_ms);
    }

    /// Sends every change since the last patch as one `state.patch` (nothing
    /// when there is none). Event-driven rooms are flushed after each batch of
    /// inputs; ticking rooms by [`Room::tick`].
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.seq = Seq(self.seq.0 + 1);
        let (checksum, state_weight) = arbiter_state::checksum_and_len(&self.state);
        self.checksum = Checksum(checksum.as_u64());
        self.since_checksum += 1;
        let with_checksum = self.since_checksum >= self.config.checksum_every.max(1);
        if with_checksum {
            self.since_checksum = 0;
        }
        // Several moves of one player in a tick: send the last. The patch
        // gets an exact-size copy (it may live in the history for a while);
        // `pending` keeps its capacity for the next tick.
        arbiter_state::compact(&mut self.pending);
        let ops: Vec<PatchOp> = self.pending.drain(..).collect();
        let weight = ops.iter().map(PatchOp::weight).sum();
        let patch = StatePatch {
            seq: self.seq,
            ops,
            checksum: with_checksum.then_some(self.checksum),
        };
        let frame = SharedFrame::new(ServerFrame::new(patch).in_room(self.id.clone()));
        self.history
            .push(self.seq, self.checksum, frame.clone(), weight, state_weight);
        self.broadcast(&frame, None, Delivery::Reliable);
    }

    /// Closes the room: flushes pending changes, tells every member with
    /// `room.closed`, runs the dispose hook and removes everyone.
    pub fn close(&mut self, reason: &str, now_ms: u64) {
        if self.closed.is_some() {
            return;
        }
        self.flush();
        let frame = SharedFrame::new(ServerFrame::new(RoomClosed {
            room: self.id.clone(),
            reason: reason.to_owned(),
        }));
        let mut sessions: Vec<SessionId> = self.members.keys().cloned().collect();
        sessions.sort();
        for session in sessions {
            self.send_shared(&session, frame.clone(), Delivery::Reliable);
            self.out.push(Output::Removed { session });
        }
        self.members.clear();
        if !self.logic.needs_restore()
            && let Err(error) = self.logic.dispose(&DisposeInput { now_ms })
        {
            self.out.push(Output::HookFailed { error });
        }
        self.closed = Some(reason.to_owned());
        self.out.push(Output::Closed {
            reason: reason.to_owned(),
        });
    }

    /// Closes the room if a hook asked for it or the error budget ran out.
    pub(crate) fn finish(&mut self, now_ms: u64) {
        if let Some(reason) = self.close_after.take() {
            self.close(&reason, now_ms);
        }
    }

    /// Runs one hook (restoring the logic first if needed) and commits its ops
    /// to the state and the pending patch. `None` when it failed: nothing of
    /// it is kept.
    pub(crate) fn run_hook<F>(&mut self, now_ms: u64, hook: F) -> Option<HookOutput>
    where
        F: FnOnce(&mut L) -> Result<HookOutput, LogicError>,
    {
        if self.closed.is_some() || (self.logic.needs_restore() && !self.restore(now_ms)) {
            return None;
        }
        let result = hook(&mut self.logic).and_then(|out| {
            self.logic.commit(&mut self.state, &out)?;
            Ok(out)
        });
        match result {
            Ok(mut out) => {
                self.pending.append(&mut out.ops);
                Some(out)
            }
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    fn restore(&mut self, now_ms: u64) -> bool {
        let clients = self.clients_sorted();
        let input = RestoreInput {
            room: self.id.as_str().to_owned(),
            room_type: self.room_type.clone(),
            options: self.options.clone(),
            state: self.state.clone(),
            clients,
            now_ms,
        };
        match self.logic.restore(&input) {
            Ok(_) => true,
            Err(error) => {
                self.fail(error);
                false
            }
        }
    }

    fn fail(&mut self, error: LogicError) {
        self.errors += 1;
        self.out.push(Output::HookFailed { error });
        if self.errors >= self.config.max_errors && self.close_after.is_none() {
            self.close_after = Some(format!(
                "the room's plugin failed {} times (error budget {})",
                self.errors, self.config.max_errors
            ));
        }
    }

    pub(crate) fn clients_sorted(&self) -> Vec<Client> {
        let mut clients: Vec<Client> = self
            .members
            .iter()
            .map(|(s, m)| Client {
                session_id: s.as_str().to_owned(),
                user_id: m.user_id.clone(),
            })
            .collect();
        clients.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        clients
    }

    /// Applies a hook's side effects: messages, lock, metadata, close.
    pub(crate) fn effects(&mut self, out: HookOutput) {
        for msg in out.messages {
            self.deliver(msg);
        }
        if let Some(lock) = out.lock {
            self.locked = lock;
        }
        if let Some(Value::Object(m)) = out.metadata {
            self.metadata = m;
        }
        if let Some(reason) = out.close {
            self.close_after.get_or_insert(reason);
        }
    }

    fn deliver(&mut self, msg: OutMessage) {
        let from = msg.from.and_then(|s| SessionId::new(s).ok());
        let unreliable = msg.unreliable
            || matches_type(&self.config.unreliable_types, &msg.kind)
            || self.settings.unreliable.iter().any(|t| t == &msg.kind);
        let delivery = if unreliable {
            Delivery::Unreliable
        } else {
            Delivery::Reliable
        };
        let frame = match msg.bytes {
            Some(data) => ServerFrame::new(ServerRoomBytes {
                kind: msg.kind,
                data,
                from,
            }),
            None => ServerFrame::new(ServerRoomMessage {
                kind: msg.kind,
                data: msg.data.unwrap_or(Value::Null),
                from,
            }),
        };
        let frame = SharedFrame::new(frame.in_room(self.id.clone()));
        match msg.to {
            Target::All => self.broadcast(&frame, None, delivery),
            Target::AllBut(s) => match SessionId::new(s) {
                Ok(s) => self.broadcast(&frame, Some(&s), delivery),
                Err(_) => self.broadcast(&frame, None, delivery),
            },
            Target::One(s) => {
                if let Ok(s) = SessionId::new(s)
                    && self.members.get(&s).is_some_and(|m| m.active)
                {
                    self.send_shared(&s, frame, delivery);
                }
            }
        }
    }

    /// Sends `frame` to every active member but `except`.
    pub(crate) fn broadcast(
        &mut self,
        frame: &Arc<SharedFrame>,
        except: Option<&SessionId>,
        delivery: Delivery,
    ) {
        for (session, member) in &self.members {
            if member.active && Some(session) != except {
                self.out.push(Output::Send {
                    to: session.clone(),
                    frame: frame.clone(),
                    delivery,
                });
            }
        }
    }

    pub(crate) fn send_shared(
        &mut self,
        to: &SessionId,
        frame: Arc<SharedFrame>,
        delivery: Delivery,
    ) {
        self.out.push(Output::Send {
            to: to.clone(),
            frame,
            delivery,
        });
    }

    pub(crate) fn send(&mut self, to: &SessionId, frame: ServerFrame) {
        self.send_shared(to, SharedFrame::new(frame), Delivery::Reliable);
    }

    pub(crate) fn reply(&mut self, to: &SessionId, rid: Option<Rid>, response: RpcResponse) {
        self.send(to, ServerFrame::new(response).with_rid(rid));
    }

    pub(crate) fn reply_err(
        &mut self,
        to: &SessionId,
        rid: Option<Rid>,
        code: ErrorCode,
        reason: String,
    ) {
        self.reply(to, rid, RpcResponse::Err { code, reason });
    }

    /// A fresh `state.snapshot` of the committed state. Pending changes are
    /// flushed first so the snapshot sits on a patch boundary.
    pub(crate) fn snapshot_to(&mut self, to: &SessionId) {
        self.flush();
        let frame = ServerFrame::new(StateSnapshot {
            state: self.state.clone(),
            seq: self.seq,
            checksum: self.checksum,
        })
        .in_room(self.id.clone());
        self.send(to, frame);
    }
}
