//! Routes a session's decoded frames: room-scoped ones to the room's actor,
//! `room.list` and the not-member answers right here.

use std::sync::Arc;

use arbiter_protocol::{
    ClientFrame, ClientMessage, ErrorCode, ErrorPayload, JoinOrCreate, Rid, RoomId, RpcOk,
    RpcResponse, ServerFrame,
};
use arbiter_room::MessageBody;
use serde_json::Value;
use tokio::sync::mpsc::error::TrySendError;

use crate::directory::RoomHandle;
use crate::room_actor::{RoomCmd, spawn_room};
use crate::runtime::Runtime;
use crate::session::Session;

/// Handles one decoded frame of `session`.
pub(crate) fn route(rt: &Arc<Runtime>, session: &Arc<Session>, epoch: u64, frame: ClientFrame) {
    let ClientFrame { rid, room, msg } = frame;
    let sid = session.id.clone();
    match msg {
        ClientMessage::RoomJoinOrCreate(join) => join_or_create(rt, session, epoch, rid, join),
        ClientMessage::RoomList(list) => {
            let rooms = rt
                .directory
                .list(&session.project, list.room_type.as_deref());
            reply(session, rid, RpcResponse::Ok(RpcOk::Rooms(rooms)));
        }
        ClientMessage::RoomLeave(p) => {
            let cmd = RoomCmd::Leave {
                session: sid,
                rid: rid.clone(),
                consented: true,
            };
            to_room(session, &p.room, rid, true, cmd);
        }
        ClientMessage::PresenceSet(p) => {
            let cmd = RoomCmd::Presence {
                session: sid,
                state: p.state,
                rid: rid.clone(),
            };
            to_room(session, &p.room, rid, true, cmd);
        }
        ClientMessage::StateResync(p) => {
            let cmd = RoomCmd::Resync {
                session: sid,
                rid: rid.clone(),
            };
            to_room(session, &p.room, rid.clone(), rid.is_some(), cmd);
        }
        ClientMessage::StateAck(p) => {
            let cmd = RoomCmd::Ack {
                session: sid,
                seq: p.seq,
                checksum: p.checksum,
            };
            to_room(session, &p.room, rid, false, cmd);
        }
        ClientMessage::RoomMessage(m) => {
            let body = MessageBody::Json(m.data);
            message(session, room, rid, m.kind, body);
        }
        ClientMessage::RoomMessageBytes(m) => {
            let body = MessageBody::Bytes(m.data);
            message(session, room, rid, m.kind, body);
        }
        ClientMessage::MatchmakingEnqueue(p) => {
            let response = rt.matchmaking.enqueue(session, p);
            reply(session, rid, response);
        }
        ClientMessage::MatchmakingDequeue(p) => {
            let response = rt.matchmaking.dequeue(session, &p);
            reply(session, rid, response);
        }
        // Answered by the inbound pipeline; nothing to route.
        ClientMessage::Ping(_) | ClientMessage::SessionAttach(_) => {}
    }
}

fn message(
    session: &Arc<Session>,
    room: Option<RoomId>,
    rid: Option<Rid>,
    kind: String,
    body: MessageBody,
) {
    // The decoder guarantees the room of a room.message; be safe anyway.
    let Some(room) = room else {
        let reason = "room.message needs a room (envelope `room` or `p.room`)".to_owned();
        error(session, rid, ErrorCode::BadFrame, reason);
        return;
    };
    let cmd = RoomCmd::Message {
        session: session.id.clone(),
        rid: rid.clone(),
        kind,
        body,
    };
    to_room(session, &room, rid, false, cmd);
}

fn reply(session: &Session, rid: Option<Rid>, response: RpcResponse) {
    session.send(ServerFrame::new(response).with_rid(rid));
}

fn error(session: &Session, rid: Option<Rid>, code: ErrorCode, reason: String) {
    session.send(ServerFrame::new(ErrorPayload { code, reason }).with_rid(rid));
}

/// Sends `cmd` to a room the session is in. Not a member: `rpc.response`
/// `room.not_member` for requests, `error` otherwise. A full room queue:
/// `server.overloaded`.
fn to_room(session: &Session, room: &RoomId, rid: Option<Rid>, request: bool, cmd: RoomCmd) {
    // Sent under the lock rather than through a cloned handle: a clone and
    // drop of the channel sender costs two atomic updates per frame.
    let sent = session.rooms().get(room).map(|h| h.tx.try_send(cmd));
    let failure = match sent {
        None => Some((
            ErrorCode::RoomNotMember,
            format!("this session is not in room {room}; join it first"),
        )),
        Some(sent) => match sent {
            Ok(()) => None,
            Err(TrySendError::Full(_)) => Some((
                ErrorCode::ServerOverloaded,
                format!("room {room} is overloaded; the frame was dropped, retry later"),
            )),
            Err(TrySendError::Closed(_)) => {
                session.rooms().remove(room);
                Some((
                    ErrorCode::RoomNotMember,
                    format!("room {room} has closed; this session is no longer in it"),
                ))
            }
        },
    };
    if let Some((code, reason)) = failure {
        if request {
            reply(session, rid, RpcResponse::Err { code, reason });
        } else {
            let frame = ServerFrame::new(ErrorPayload { code, reason })
                .with_rid(rid)
                .in_room(room.clone());
            session.send(frame);
        }
    }
}

/// `room.join_or_create`: find or create the room, hold a seat, and hand the
/// join to the room's actor, which answers.
fn join_or_create(
    rt: &Arc<Runtime>,
    session: &Arc<Session>,
    epoch: u64,
    rid: Option<Rid>,
    join: JoinOrCreate,
) {
    let refuse = |code: ErrorCode, reason: String| {
        reply(session, rid.clone(), RpcResponse::Err { code, reason });
    };
    if rt.plugins.get(&join.room_type).is_none() {
        let known = rt.room_types().join(", ");
        return refuse(
            ErrorCode::RoomUnknownType,
            format!(
                "no room type {:?} on this server (available: {known})",
                join.room_type
            ),
        );
    }
    if rt.is_draining() {
        return refuse(
            ErrorCode::ServerDraining,
            "the server is shutting down; no new joins".to_owned(),
        );
    }
    let options = Value::Object(join.options.unwrap_or_default());
    let spawn = |id: &RoomId| {
        spawn_room(
            rt,
            session.project.clone(),
            id.clone(),
            join.room_type.clone(),
            options.clone(),
        )
    };
    let (handle, created): (RoomHandle, bool) = match &join.room {
        Some(id) => {
            let (h, created) = rt
                .directory
                .get_or_create(&session.project, id, || spawn(id));
            if h.facts.room_type != join.room_type {
                return refuse(
                    ErrorCode::RoomNotFound,
                    format!(
                        "room {id} is a {} room, not {}; pick another id",
                        h.facts.room_type, join.room_type
                    ),
                );
            }
            h.facts.take_seat();
            (h, created)
        }
        None => match rt.directory.find_open(&session.project, &join.room_type) {
            Some(h) => (h, false),
            None => {
                let id = new_room_id(&join.room_type, "");
                let (h, created) = rt
                    .directory
                    .get_or_create(&session.project, &id, || spawn(&id));
                h.facts.take_seat();
                (h, created)
            }
        },
    };
    let id = handle.facts.id.clone();
    session.rooms().insert(id.clone(), handle.clone());
    let cmd = RoomCmd::Join {
        session: session.clone(),
        epoch,
        rid: rid.clone(),
        options,
        created,
    };
    if let Err(e) = handle.tx.try_send(cmd) {
        handle.facts.release_seat();
        session.rooms().remove(&id);
        let (code, reason) = match e {
            TrySendError::Full(_) => (
                ErrorCode::ServerOverloaded,
                format!("room {id} is overloaded; retry later"),
            ),
            TrySendError::Closed(_) => (
                ErrorCode::RoomClosed,
                format!("room {id} has just closed; retry to get a new one"),
            ),
        };
        refuse(code, reason);
    }
}

/// `<room_type>-<tag><10 random base36 chars>` (the tag tells auto-created
/// rooms from matched ones), or `room-<tag><…>` when the type is too long for
/// that to be a valid id.
pub(crate) fn new_room_id(room_type: &str, tag: &str) -> RoomId {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let suffix: String = (0..10)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect();
    RoomId::new(format!("{room_type}-{tag}{suffix}"))
        .or_else(|_| RoomId::new(format!("room-{tag}{suffix}")))
        .expect("`room-` plus base36 is a valid room id")
}
