//! A session's life across transports: open or resume at the handshake,
//! suspend when a transport drops, expire after the TTL, end on a clean close.

use std::sync::Arc;
use std::sync::Mutex;

use arbiter_session::Accepted;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::directory::RoomHandle;
use crate::outbox::Outbox;
use crate::room_actor::RoomCmd;
use crate::runtime::Runtime;
use crate::session::{Conn, Phase, Session};

/// Resumes the session a valid resume pair names (taking it over from a
/// transport that may still be attached), or makes a new one. Returns the
/// session and this transport's generation (1 for a new session).
pub(crate) fn open_session(rt: &Arc<Runtime>, accepted: &Accepted) -> (Arc<Session>, u64) {
    let project = accepted.identity.project_id.as_str();
    let m = &rt.metrics;
    let found = accepted
        .resume
        .as_ref()
        .and_then(|(id, token)| rt.sessions.find(id, token, project));
    if let Some(session) = found {
        let mut conn = session.conn();
        if conn.phase != Phase::Ended {
            let was_suspended = matches!(conn.phase, Phase::Suspended(_));
            conn.phase = Phase::Active;
            let mut generation = 0;
            session.generation.send_modify(|g| {
                *g += 1;
                generation = *g;
            });
            drop(conn);
            session.set_codec(accepted.codec);
            rt.matchmaking.resume(&session);
            if was_suspended {
                m.sessions.with_label_values(&["suspended"]).dec();
                m.sessions.with_label_values(&["active"]).inc();
            }
            m.handshakes_total.with_label_values(&["resumed"]).inc();
            m.resumes_total.inc();
            return (session, generation);
        }
    }
    let id = arbiter_session::new_session_id();
    let user_id = accepted
        .identity
        .user_id
        .clone()
        .unwrap_or_else(|| id.as_str().to_owned());
    let session = Arc::new(Session {
        id,
        project: Arc::from(project),
        user_id,
        resume_token: arbiter_session::new_resume_token(),
        outbox: Outbox::new(rt.config.outbox_capacity),
        rooms: Mutex::new(rustc_hash::FxHashMap::default()),
        conn: Mutex::new(Conn {
            phase: Phase::Active,
        }),
        generation: watch::Sender::new(1),
        codec: Mutex::new(accepted.codec),
        datagrams: Mutex::new(None),
    });
    rt.sessions.insert(session.clone());
    m.sessions.with_label_values(&["active"]).inc();
    m.handshakes_total.with_label_values(&["ok"]).inc();
    (session, 1)
}

/// Tells every room of a resumed session to replay what it missed.
pub(crate) fn resume_rooms(session: &Arc<Session>, epoch: u64) {
    for handle in room_handles(session) {
        control(
            &handle,
            RoomCmd::Resume {
                session: session.clone(),
                epoch,
            },
        );
    }
}

fn room_handles(session: &Session) -> Vec<RoomHandle> {
    session.rooms().values().cloned().collect()
}

/// Sends a command that must not be lost to a full queue: waits in a task
/// when the queue is full.
pub(crate) fn control(handle: &RoomHandle, cmd: RoomCmd) {
    if let Err(tokio::sync::mpsc::error::TrySendError::Full(cmd)) = handle.tx.try_send(cmd) {
        let tx = handle.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(cmd).await;
        });
    }
}

/// After a transport of `generation` ended: `None` ends the session now (a
/// clean close); `Some(reason)` suspends it for the TTL (`""`: another
/// transport took it over, nothing to do).
pub(crate) fn after_connection(
    rt: &Arc<Runtime>,
    session: &Arc<Session>,
    generation: u64,
    suspend_reason: Option<&'static str>,
) {
    let mut conn = session.conn();
    if *session.generation.borrow() != generation || conn.phase != Phase::Active {
        return;
    }
    let Some(reason) = suspend_reason else {
        drop(conn);
        end_session(rt, session, "active", true);
        return;
    };
    if reason.is_empty() {
        return;
    }
    conn.phase = Phase::Suspended(Instant::now().into_std());
    drop(conn);
    session.outbox.suspend();
    rt.matchmaking.pause(session);
    for handle in room_handles(session) {
        control(
            &handle,
            RoomCmd::Suspend {
                session: session.id.clone(),
            },
        );
    }
    let m = &rt.metrics;
    m.sessions_suspended_total
        .with_label_values(&[reason])
        .inc();
    m.sessions.with_label_values(&["active"]).dec();
    m.sessions.with_label_values(&["suspended"]).inc();
    let (rt, session) = (rt.clone(), session.clone());
    tokio::spawn(async move {
        tokio::time::sleep(rt.config.session.session_ttl).await;
        let expired = *session.generation.borrow() == generation
            && matches!(session.conn().phase, Phase::Suspended(_));
        if expired {
            end_session(&rt, &session, "suspended", false);
        }
    });
}

/// Ends a session: it leaves its rooms and can no longer be resumed.
/// `gauge`: the sessions gauge it was counted in (`active` or `suspended`).
fn end_session(rt: &Runtime, session: &Arc<Session>, gauge: &str, consented: bool) {
    {
        let mut conn = session.conn();
        if conn.phase == Phase::Ended {
            return;
        }
        conn.phase = Phase::Ended;
    }
    rt.metrics.sessions.with_label_values(&[gauge]).dec();
    rt.sessions.remove(&session.id);
    rt.matchmaking.remove(session);
    session.outbox.suspend();
    let rooms: Vec<RoomHandle> = session.rooms().drain().map(|(_, h)| h).collect();
    for handle in rooms {
        control(
            &handle,
            RoomCmd::Leave {
                session: session.id.clone(),
                rid: None,
                consented,
            },
        );
    }
}
