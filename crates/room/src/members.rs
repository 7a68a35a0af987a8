//! Membership and per-member sync: join, leave, presence, messages, acks,
//! resync, suspend and resume.

use std::collections::BTreeMap;

use arbiter_plugin_abi::{Client, JoinInput, LeaveInput, MessageInput};
use arbiter_protocol::{
    Checksum, ErrorCode, ErrorPayload, Joined, PresenceDiff, PresenceMember, PresenceState, Rid,
    RpcOk, RpcResponse, Seq, ServerFrame, SessionId, SharedFrame,
};
use serde_json::Value;

use crate::logic::RoomLogic;
use crate::output::{Delivery, Output};
use crate::room::{Member, Room};

/// A join request as the room sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// Who joins.
    pub session: SessionId,
    /// The authenticated user (the session id when auth is off).
    pub user_id: String,
    /// `options` of the request, for the plugin's join hook.
    pub options: Value,
    /// The request's `rid`, echoed on the response.
    pub rid: Option<Rid>,
    /// Whether this request created the room (`created` in the response).
    pub created: bool,
}

/// How a join ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The session is a member (now or already).
    Joined,
    /// Refused with this code; the response was sent.
    Refused(ErrorCode),
}

/// The body of a `room.message` or `room.message.bytes` from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageBody {
    /// `room.message`'s `data`.
    Json(Value),
    /// `room.message.bytes`'s decoded payload.
    Bytes(Vec<u8>),
}

impl<L: RoomLogic> Room<L> {
    fn client(&self, session: &SessionId) -> Option<Client> {
        self.members.get(session).map(|m| Client {
            session_id: session.as_str().to_owned(),
            user_id: m.user_id.clone(),
        })
    }

    /// Handles `room.join_or_create` for this room: seat and lock checks, the
    /// plugin's join hook, then `rpc.response`, `state.snapshot` and
    /// `presence.state` to the joiner and `presence.diff` to the others.
    ///
    /// The room's pending changes (the join hook's included) are flushed as a
    /// patch to the existing members first, so that the joiner's snapshot and
    /// their patches meet at the same seq.
    pub fn join(&mut self, req: JoinRequest, now_ms: u64) -> JoinOutcome {
        let JoinRequest {
            session,
            user_id,
            options,
            rid,
            created,
        } = req;
        let refuse = |room: &mut Self, code: ErrorCode, reason: String| {
            room.reply_err(&session, rid.clone(), code, reason);
            JoinOutcome::Refused(code)
        };
        if self.closed().is_some() {
            let reason = format!("room {} is closed", self.id);
            return refuse(self, ErrorCode::RoomClosed, reason);
        }
        if self.members.contains_key(&session) {
            self.welcome(&session, rid, false);
            return JoinOutcome::Joined;
        }
        // A matched session's reserved seat is its own: not counted against
        // it, and usable while the room is locked.
        let reserved = self.reservations.get(&session).is_some_and(|e| *e > now_ms);
        if self.locked && !reserved {
            let reason = format!("room {} is locked", self.id);
            return refuse(self, ErrorCode::RoomLocked, reason);
        }
        let held = self.reservations.len() - usize::from(self.reservations.contains_key(&session));
        if let Some(max) = self.max_clients()
            && self.members.len() + held >= max as usize
            && !reserved
        {
            let reason = if held > 0 {
                format!(
                    "room {} is full ({}/{max}, {held} seats reserved for matched players)",
                    self.id,
                    self.members.len()
                )
            } else {
                format!("room {} is full ({}/{max})", self.id, self.members.len())
            };
            return refuse(self, ErrorCode::RoomFull, reason);
        }
        let input = JoinInput {
            client: Client {
                session_id: session.as_str().to_owned(),
                user_id: user_id.clone(),
            },
            options,
            now_ms,
        };
        let Some(out) = self.run_join(&input) else {
            let reason = format!("the plugin of room {} failed to handle the join", self.id);
            let outcome = refuse(self, ErrorCode::RoomPluginError, reason);
            self.finish(now_ms);
            return outcome;
        };
        if let Some(reason) = out.reject.clone() {
            return refuse(self, ErrorCode::RoomRejected, reason);
        }
        if self.reservations.remove(&session).is_some() {
            self.out.push(Output::ReservationEnded {
                session: session.clone(),
                claimed: true,
            });
        }
        self.flush();
        self.members.insert(
            session.clone(),
            Member {
                user_id: user_id.clone(),
                presence: Value::Null,
                last_ack: self.seq,
                active: true,
            },
        );
        self.welcome(&session, rid, created);
        let joins = BTreeMap::from([(
            session.clone(),
            PresenceMember {
                user_id,
                state: Value::Null,
            },
        )]);
        self.presence_diff(&session, joins, BTreeMap::new());
        self.effects(out);
        self.finish(now_ms);
        JoinOutcome::Joined
    }

    /// The join hook, with the rule that a refused join changes nothing: its
    /// ops are only committed when it accepts.
    fn run_join(&mut self, input: &JoinInput) -> Option<arbiter_plugin_abi::HookOutput> {
        let mut refused = None;
        let out = self.run_hook(input.now_ms, |logic| {
            let out = logic.join(input)?;
            if out.reject.is_some() {
                refused = Some(out);
                Ok(Default::default())
            } else {
                Ok(out)
            }
        })?;
        Some(refused.unwrap_or(out))
    }

    fn welcome(&mut self, session: &SessionId, rid: Option<Rid>, created: bool) {
        let joined = Joined {
            room: self.id.clone(),
            room_type: self.room_type.clone(),
            created,
        };
        self.reply(session, rid, RpcResponse::Ok(RpcOk::Joined(joined)));
        self.snapshot_to(session);
        self.presence_state_to(session);
    }

    fn presence_state_to(&mut self, session: &SessionId) {
        let members = self
            .members
            .iter()
            .map(|(s, m)| {
                let member = PresenceMember {
                    user_id: m.user_id.clone(),
                    state: m.presence.clone(),
                };
                (s.clone(), member)
            })
            .collect();
        let frame = ServerFrame::new(PresenceState {
            room: self.id.clone(),
            members,
        });
        self.send(session, frame);
    }

    fn presence_diff(
        &mut self,
        except: &SessionId,
        joins: BTreeMap<SessionId, PresenceMember>,
        leaves: BTreeMap<SessionId, PresenceMember>,
    ) {
        let frame = SharedFrame::new(ServerFrame::new(PresenceDiff {
            room: self.id.clone(),
            joins,
            leaves,
        }));
        self.broadcast(&frame, Some(except), Delivery::Reliable);
    }

    /// Holds a seat for `session` (a matchmaking participant) until
    /// `expires_ms`: other joins cannot take it, and the session may take it
    /// even when the room is locked.
    pub fn reserve(&mut self, session: SessionId, expires_ms: u64) {
        if !self.members.contains_key(&session) {
            self.reservations.insert(session, expires_ms);
        }
    }

    /// Frees the seats whose reservation ran out by `now_ms`; each gets an
    /// [`Output::ReservationEnded`] with `claimed: false`.
    pub fn expire_reservations(&mut self, now_ms: u64) {
        let mut expired: Vec<SessionId> = self
            .reservations
            .iter()
            .filter(|(_, e)| **e <= now_ms)
            .map(|(s, _)| s.clone())
            .collect();
        expired.sort();
        for session in expired {
            self.reservations.remove(&session);
            self.out.push(Output::ReservationEnded {
                session,
                claimed: false,
            });
        }
    }

    /// The earliest reservation expiry, for the driver's timer.
    pub fn next_reservation_expiry(&self) -> Option<u64> {
        self.reservations.values().min().copied()
    }

    /// A member leaves (`consented`: it asked to; otherwise its session
    /// expired). The leave hook runs, the others get `presence.diff`, and the
    /// leaver gets `{ ok: true }` when the request had a `rid`.
    pub fn leave(&mut self, session: &SessionId, rid: Option<Rid>, consented: bool, now_ms: u64) {
        let Some(member) = self.members.remove(session) else {
            if consented {
                let reason = format!("this session is not in room {}", self.id);
                self.reply_err(session, rid, ErrorCode::RoomNotMember, reason);
            }
            return;
        };
        if consented {
            self.reply(session, rid, RpcResponse::Ok(RpcOk::Done));
        }
        self.out.push(Output::Removed {
            session: session.clone(),
        });
        let leaves = BTreeMap::from([(
            session.clone(),
            PresenceMember {
                user_id: member.user_id.clone(),
                state: member.presence,
            },
        )]);
        self.presence_diff(session, BTreeMap::new(), leaves);
        let input = LeaveInput {
            client: Client {
                session_id: session.as_str().to_owned(),
                user_id: member.user_id,
            },
            consented,
            now_ms,
        };
        if let Some(out) = self.run_hook(now_ms, |l| l.leave(&input)) {
            self.effects(out);
        }
        self.finish(now_ms);
    }

    /// `presence.set`: stores the member's presence and tells the others.
    pub fn presence_set(&mut self, session: &SessionId, state: Value, rid: Option<Rid>) {
        let Some(member) = self.members.get_mut(session) else {
            let reason = format!("this session is not in room {}", self.id);
            self.reply_err(session, rid, ErrorCode::RoomNotMember, reason);
            return;
        };
        member.presence = state.clone();
        let user_id = member.user_id.clone();
        self.reply(session, rid, RpcResponse::Ok(RpcOk::Done));
        let joins = BTreeMap::from([(session.clone(), PresenceMember { user_id, state })]);
        self.presence_diff(session, joins, BTreeMap::new());
    }

    /// A `room.message` / `room.message.bytes` from a client, for the plugin.
    pub fn message(
        &mut self,
        session: &SessionId,
        rid: Option<Rid>,
        kind: String,
        body: MessageBody,
        now_ms: u64,
    ) {
        let Some(client) = self.client(session) else {
            self.not_member_error(session, rid);
            return;
        };
        let (data, bytes) = match body {
            MessageBody::Json(v) => (Some(v), None),
            MessageBody::Bytes(b) => (None, Some(b)),
        };
        let input = MessageInput {
            client,
            kind,
            data,
            bytes,
            now_ms,
        };
        if let Some(out) = self.run_hook(now_ms, |l| l.message(&input)) {
            self.effects(out);
        }
        self.finish(now_ms);
    }

    fn not_member_error(&mut self, session: &SessionId, rid: Option<Rid>) {
        let frame = ServerFrame::new(ErrorPayload {
            code: ErrorCode::RoomNotMember,
            reason: format!("this session is not in room {}; join it first", self.id),
        })
        .with_rid(rid)
        .in_room(self.id.clone());
        self.send(session, frame);
    }

    /// `state.ack`: remembers how far the client got; a checksum that differs
    /// from the server's at that seq earns a fresh snapshot.
    pub fn ack(&mut self, session: &SessionId, seq: Seq, checksum: Option<Checksum>) {
        let current = self.seq;
        let Some(member) = self.members.get_mut(session) else {
            self.not_member_error(session, None);
            return;
        };
        if seq.0 > current.0 {
            return;
        }
        member.last_ack = Seq(member.last_ack.0.max(seq.0));
        let Some(theirs) = checksum else { return };
        let ours = if seq == current {
            Some(self.checksum)
        } else {
            self.history.checksum_at(seq)
        };
        if ours.is_some_and(|ours| ours != theirs) {
            self.snapshot_to(session);
        }
    }

    /// `state.resync`: `{ ok: true }` when the frame had a `rid`, then a
    /// fresh snapshot.
    pub fn resync(&mut self, session: &SessionId, rid: Option<Rid>) {
        if !self.members.contains_key(session) {
            let reason = format!("this session is not in room {}", self.id);
            self.reply_err(session, rid, ErrorCode::RoomNotMember, reason);
            return;
        }
        if rid.is_some() {
            self.reply(session, rid, RpcResponse::Ok(RpcOk::Done));
        }
        self.snapshot_to(session);
    }

    /// The member's transport dropped: nothing is sent to it until it resumes.
    pub fn suspend(&mut self, session: &SessionId) {
        if let Some(m) = self.members.get_mut(session) {
            m.active = false;
        }
    }

    /// The member resumed: it gets every patch after its last ack (or a
    /// snapshot when they are no longer kept or more than
    /// [`RoomConfig::max_replay`](crate::RoomConfig::max_replay)), then
    /// `presence.state`.
    /// Returns false when it is no longer a member.
    pub fn resume(&mut self, session: &SessionId) -> bool {
        self.flush();
        let Some(member) = self.members.get_mut(session) else {
            return false;
        };
        member.active = true;
        let last_ack = member.last_ack;
        let missed = self.history.since(last_ack, self.seq);
        match missed.filter(|f| f.len() <= self.config.max_replay) {
            Some(frames) => {
                for frame in frames {
                    self.send_shared(session, frame, Delivery::Reliable);
                }
            }
            None => self.snapshot_to(session),
        }
        self.presence_state_to(session);
        true
    }
}
