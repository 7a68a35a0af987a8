//! The matchmaker task (PROTOCOL.md §7): sessions enqueue and dequeue
//! tickets; a task polls the sans-IO matchmaker, creates the rooms of formed
//! matches, reserves their seats and tells the participants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use arbiter_matchmaker::{EnqueueRequest, Event, Match, Matchmaker, MatchmakerConfig};
use arbiter_plugin_abi::CreateInput;
use arbiter_plugin_host::PluginRegistry;
use arbiter_protocol::{
    Dequeue, Enqueue, MatchFound, MatchTimeout, RpcOk, RpcResponse, ServerFrame,
};
use tokio::sync::Notify;

use crate::room_actor::{RoomCmd, spawn_room};
use crate::runtime::{Runtime, unix_ms};
use crate::session::Session;

/// The matchmaker shared by sessions and its task.
#[derive(Debug)]
pub(crate) struct Matchmaking {
    mm: Mutex<Matchmaker>,
    wake: Arc<Notify>,
    /// `max_clients` of each room type (`None`: no limit), learnt at start.
    limits: HashMap<String, Option<u32>>,
}

impl Matchmaking {
    pub(crate) fn new(config: MatchmakerConfig, plugins: &PluginRegistry) -> Matchmaking {
        Matchmaking {
            mm: Mutex::new(Matchmaker::new(config, Default::default())),
            wake: Arc::new(Notify::new()),
            limits: probe_limits(plugins),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Matchmaker> {
        self.mm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `matchmaking.enqueue`.
    pub(crate) fn enqueue(&self, session: &Session, p: Enqueue) -> RpcResponse {
        let Some(limit) = self.limits.get(&p.room_type) else {
            let mut known: Vec<&str> = self.limits.keys().map(String::as_str).collect();
            known.sort_unstable();
            return RpcResponse::Err {
                code: arbiter_protocol::ErrorCode::MatchmakingInvalid,
                reason: format!(
                    "no room type {:?} to match for (available: {})",
                    p.room_type,
                    known.join(", ")
                ),
            };
        };
        let req = EnqueueRequest::from_wire(session.project.clone(), session.id.clone(), p, *limit);
        let result = self.lock().enqueue(req, Instant::now());
        match result {
            Ok(ticket) => {
                self.wake.notify_one();
                RpcResponse::Ok(RpcOk::Enqueued { ticket })
            }
            Err(e) => RpcResponse::Err {
                code: e.code(),
                reason: e.reason(),
            },
        }
    }

    /// `matchmaking.dequeue`.
    pub(crate) fn dequeue(&self, session: &Session, p: &Dequeue) -> RpcResponse {
        let removed = self
            .lock()
            .dequeue(&session.project, &session.id, p.room_type.as_deref());
        self.wake.notify_one();
        RpcResponse::Ok(RpcOk::Dequeued { removed })
    }

    /// The session's transport dropped: its tickets wait without matching.
    pub(crate) fn pause(&self, session: &Session) {
        self.lock().pause_session(&session.id);
    }

    /// The session resumed: its tickets match again, in their old place.
    pub(crate) fn resume(&self, session: &Session) {
        self.lock().resume_session(&session.id);
        self.wake.notify_one();
    }

    /// Fills `fill.free` seats of a live matched room from its queue; see
    /// [`Matchmaker::backfill`].
    pub(crate) fn backfill(
        &self,
        fill: &arbiter_matchmaker::Backfill,
    ) -> Vec<(
        arbiter_protocol::SessionId,
        arbiter_protocol::TicketId,
        Duration,
    )> {
        self.lock().backfill(fill, Instant::now())
    }

    /// The session ended: its tickets go.
    pub(crate) fn remove(&self, session: &Session) {
        if self.lock().remove_session(&session.id) > 0 {
            self.wake.notify_one();
        }
    }
}

/// Runs each plugin's create hook once with default options to learn its
/// room type's `max_clients` (what `size` is checked against).
fn probe_limits(plugins: &PluginRegistry) -> HashMap<String, Option<u32>> {
    plugins
        .room_types()
        .map(|room_type| {
            let limit = plugins
                .get(room_type)
                .and_then(|p| p.instantiate("probe", 0).ok())
                .and_then(|mut room| {
                    let input = CreateInput {
                        room: "probe".into(),
                        room_type: room_type.to_owned(),
                        options: serde_json::json!({}),
                        now_ms: unix_ms(),
                    };
                    room.create(&input).ok()
                })
                .map(|(settings, _)| settings.max_clients);
            if limit.is_none() {
                tracing::warn!(%room_type, "could not learn max_clients; matchmaking treats it as unlimited");
            }
            (room_type.to_owned(), limit.filter(|m| *m > 0))
        })
        .collect()
}

/// Starts the matchmaker task. It holds the runtime weakly and stops when the
/// runtime is gone.
pub(crate) fn spawn(rt: &Arc<Runtime>) {
    let weak = Arc::downgrade(rt);
    let wake = rt.matchmaking.wake.clone();
    tokio::spawn(run(weak, wake));
}

/// Longest sleep between polls, so a dropped runtime is noticed.
const MAX_IDLE: Duration = Duration::from_secs(1);

async fn run(rt: Weak<Runtime>, wake: Arc<Notify>) {
    loop {
        let Some(runtime) = rt.upgrade() else { return };
        let now = Instant::now();
        let (events, deadline, lens) = {
            let mut mm = runtime.matchmaking.lock();
            let events = mm.poll(now);
            (events, mm.next_deadline(), mm.queue_lens())
        };
        let gauge = &runtime.metrics.matchmaking_queue_size;
        for room_type in runtime.matchmaking.limits.keys() {
            let len = lens
                .iter()
                .find(|(t, _)| t == room_type)
                .map_or(0, |(_, n)| *n);
            gauge
                .with_label_values(&[room_type])
                .set(i64::try_from(len).unwrap_or(i64::MAX));
        }
        for event in events {
            match event {
                Event::Matched(m) => matched(&runtime, m),
                Event::TimedOut {
                    session,
                    room_type,
                    ticket,
                    ..
                } => {
                    if let Some(s) = runtime.sessions.get(&session) {
                        s.send(ServerFrame::new(MatchTimeout { room_type, ticket }));
                    }
                }
            }
        }
        drop(runtime);
        let sleep = deadline
            .map_or(MAX_IDLE, |d| d.saturating_duration_since(Instant::now()))
            .min(MAX_IDLE);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// A match formed: create its room, reserve a seat per participant, then
/// tell each participant (in that order, so a fast joiner finds its seat).
fn matched(rt: &Arc<Runtime>, m: Match) {
    let id = crate::router::new_room_id(&m.room_type, "m");
    let (handle, _) = rt.directory.get_or_create(&m.project, &id, || {
        spawn_room(
            rt,
            m.project.clone(),
            id.clone(),
            m.room_type.clone(),
            m.options.clone(),
        )
    });
    let expires_ms =
        unix_ms() + u64::try_from(rt.config.reservation_ttl.as_millis()).unwrap_or(u64::MAX);
    let sessions: Vec<_> = m.participants.iter().map(|(s, _)| s.clone()).collect();
    crate::lifecycle::control(
        &handle,
        RoomCmd::Reserve {
            sessions: sessions.clone(),
            expires_ms,
        },
    );
    let metrics = &rt.metrics;
    metrics
        .matchmaking_matches_total
        .with_label_values(&[&m.room_type])
        .inc();
    let wait = metrics
        .matchmaking_wait_seconds
        .with_label_values(&[&m.room_type]);
    for waited in &m.waited {
        wait.observe(waited.as_secs_f64());
    }
    for (session, ticket) in &m.participants {
        let Some(s) = rt.sessions.get(session) else {
            continue;
        };
        let found = MatchFound {
            room: id.clone(),
            room_type: m.room_type.clone(),
            size: m.size,
            participants: sessions.clone(),
            ticket: ticket.clone(),
        };
        s.send(ServerFrame::new(found));
    }
    tracing::debug!(room = %id, size = m.size, "match formed");
}
