//! One tokio task per room: it owns the sans-IO [`Room`], feeds it commands
//! from sessions, ticks it at the plugin's rate, and delivers its output into
//! the members' outboxes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arbiter_matchmaker::Backfill;
use arbiter_protocol::{
    Checksum, ErrorCode, Rid, RoomId, RpcResponse, Seq, ServerFrame, ServerMessage, SessionId,
};
use arbiter_room::{Delivery, JoinOutcome, JoinRequest, MessageBody, Output, Room, RoomInit};
use rustc_hash::FxHashMap;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::directory::{RoomFacts, RoomHandle};
use crate::outbox::Push;
use crate::plugin_logic::PluginLogic;
use crate::runtime::{Runtime, unix_ms};
use crate::session::Session;

/// Commands a room's queue holds (bounded: see [`ROOM_QUEUE`]).
#[derive(Debug)]
pub(crate) enum RoomCmd {
    Join {
        session: Arc<Session>,
        epoch: u64,
        rid: Option<Rid>,
        options: Value,
        created: bool,
    },
    Leave {
        session: SessionId,
        rid: Option<Rid>,
        consented: bool,
    },
    Message {
        session: SessionId,
        rid: Option<Rid>,
        kind: String,
        body: MessageBody,
    },
    Presence {
        session: SessionId,
        state: Value,
        rid: Option<Rid>,
    },
    Ack {
        session: SessionId,
        seq: Seq,
        checksum: Option<Checksum>,
    },
    Resync {
        session: SessionId,
        rid: Option<Rid>,
    },
    Suspend {
        session: SessionId,
    },
    Resume {
        session: Arc<Session>,
        epoch: u64,
    },
    Close {
        reason: String,
    },
    /// Hold a seat for each matched session until `expires_ms` (Unix ms).
    Reserve {
        sessions: Vec<SessionId>,
        expires_ms: u64,
    },
}

/// Commands a room's queue holds before senders get `server.overloaded`.
pub(crate) const ROOM_QUEUE: usize = 4096;
/// Commands handled per batch before an event-driven room flushes.
const BATCH: usize = 256;

/// Starts a room's actor; the room is created (plugin instantiated, create
/// hook run) inside the task, before any queued command is handled.
pub(crate) fn spawn_room(
    rt: &Arc<Runtime>,
    project: Arc<str>,
    id: RoomId,
    room_type: String,
    options: Value,
) -> RoomHandle {
    let (tx, rx) = mpsc::channel(ROOM_QUEUE);
    let facts = Arc::new(RoomFacts::new(id, room_type, project));
    tokio::spawn(run(rt.clone(), facts.clone(), rx, options));
    RoomHandle { tx, facts }
}

struct Link {
    session: Arc<Session>,
    epoch: u64,
}

struct Actor {
    rt: Arc<Runtime>,
    facts: Arc<RoomFacts>,
    room: Room<PluginLogic>,
    links: FxHashMap<SessionId, Link>,
    /// For a matched room whose plugin asked for backfill: its match, to
    /// refill freed seats from the same queue.
    backfill: Option<Backfill>,
}

/// The backfill template of a room created by a match (`options.match`) whose
/// plugin set `backfill`.
fn backfill_of(
    project: &Arc<str>,
    room_type: &str,
    options: &Value,
    wanted: bool,
) -> Option<Backfill> {
    let m = options.get("match").filter(|_| wanted)?;
    let size = u32::try_from(m.get("size")?.as_u64()?).ok()?;
    let properties = m
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Some(Backfill {
        project: project.clone(),
        room_type: room_type.to_owned(),
        size,
        properties,
        skill: m.get("skill").and_then(Value::as_f64),
        free: 0,
    })
}

async fn run(
    rt: Arc<Runtime>,
    facts: Arc<RoomFacts>,
    mut rx: mpsc::Receiver<RoomCmd>,
    options: Value,
) {
    let room = match create(&rt, &facts, options.clone()) {
        Ok(room) => room,
        Err(reason) => {
            tracing::warn!(room = %facts.id, room_type = %facts.room_type, %reason, "room creation failed");
            shut(&rt, &facts, &mut rx, ErrorCode::RoomPluginError, &reason).await;
            return;
        }
    };
    let room_type = facts.room_type.clone();
    rt.metrics.rooms.with_label_values(&[&room_type]).inc();
    rt.metrics
        .rooms_created_total
        .with_label_values(&[&room_type])
        .inc();
    let backfill = backfill_of(
        &facts.project,
        &room_type,
        &options,
        room.settings().backfill,
    );
    let mut actor = Actor {
        rt: rt.clone(),
        facts: facts.clone(),
        room,
        links: FxHashMap::default(),
        backfill,
    };
    actor.publish();
    let reason = actor.run(&mut rx).await;
    rt.metrics.rooms.with_label_values(&[&room_type]).dec();
    rt.metrics
        .rooms_closed_total
        .with_label_values(&[&room_type, close_label(&reason)])
        .inc();
    tracing::debug!(room = %facts.id, %reason, "room closed");
    shut(&rt, &facts, &mut rx, ErrorCode::RoomClosed, &reason).await;
}

fn close_label(reason: &str) -> &'static str {
    if reason.starts_with(EMPTY_REASON) {
        "empty"
    } else if reason == crate::runtime::DRAIN_REASON {
        "drain"
    } else if reason.starts_with("the room's plugin failed") {
        "plugin_errors"
    } else {
        "plugin"
    }
}

const EMPTY_REASON: &str = "the room was empty";

fn create(
    rt: &Arc<Runtime>,
    facts: &RoomFacts,
    options: Value,
) -> Result<Room<PluginLogic>, String> {
    let plugin = rt
        .plugins
        .get(&facts.room_type)
        .ok_or_else(|| format!("no plugin for room type {}", facts.room_type))?;
    let instance = plugin
        .instantiate(facts.id.as_str(), rand::random())
        .map_err(|e| format!("the plugin could not be instantiated: {e}"))?;
    let logic = PluginLogic::new(instance, &facts.room_type, rt.metrics.clone());
    let init = RoomInit {
        id: facts.id.clone(),
        room_type: facts.room_type.clone(),
        options,
        now_ms: unix_ms(),
    };
    Room::create(init, logic, rt.room_config.clone())
        .map_err(|e| format!("the plugin's create hook failed: {}", e.message))
}

/// Marks the room gone and answers what is still queued.
async fn shut(
    rt: &Runtime,
    facts: &Arc<RoomFacts>,
    rx: &mut mpsc::Receiver<RoomCmd>,
    code: ErrorCode,
    reason: &str,
) {
    facts.closed.store(true, Ordering::Release);
    rt.directory.remove(facts);
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let RoomCmd::Join { session, rid, .. } = cmd {
            let reason = format!("room {} is closed: {reason}", facts.id);
            session.send(ServerFrame::new(RpcResponse::Err { code, reason }).with_rid(rid));
            forget_room(&session, facts);
        }
    }
}

/// Removes `facts`' room from the session's memberships if it is that room.
fn forget_room(session: &Session, facts: &Arc<RoomFacts>) {
    let mut rooms = session.rooms();
    if rooms
        .get(&facts.id)
        .is_some_and(|h| Arc::ptr_eq(&h.facts, facts))
    {
        rooms.remove(&facts.id);
    }
}

impl Actor {
    async fn run(&mut self, rx: &mut mpsc::Receiver<RoomCmd>) -> String {
        let rate = self.room.tick_rate();
        let period = if rate > 0 {
            Duration::from_secs_f64(1.0 / f64::from(rate.min(1000)))
        } else {
            Duration::from_secs(3600)
        };
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticker.tick().await;
        let tick_seconds = self
            .rt
            .metrics
            .tick_duration_seconds
            .with_label_values(&[&self.facts.room_type]);
        let grace = self.rt.config.empty_room_grace;
        let mut empty_since = Some(Instant::now());
        loop {
            let deadline = empty_since.map_or_else(far_future, |t| t + grace);
            let reservations = self
                .room
                .next_reservation_expiry()
                .map(|ms| Instant::now() + Duration::from_millis(ms.saturating_sub(unix_ms())));
            tokio::select! {
                biased;
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else {
                        self.room.close("the server dropped the room", unix_ms());
                        self.dispatch();
                        break;
                    };
                    self.handle(cmd);
                    for _ in 1..BATCH {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                    if rate == 0 {
                        self.room.flush();
                    }
                    self.dispatch();
                }
                _ = ticker.tick(), if rate > 0 => {
                    let start = std::time::Instant::now();
                    self.room.tick(unix_ms());
                    self.dispatch();
                    tick_seconds.observe(start.elapsed().as_secs_f64());
                }
                () = tokio::time::sleep_until(reservations.unwrap_or_else(far_future)), if reservations.is_some() => {
                    self.room.expire_reservations(unix_ms());
                    self.dispatch();
                }
                () = tokio::time::sleep_until(deadline), if empty_since.is_some() => {
                    let reason = format!("{EMPTY_REASON} for {} ms", grace.as_millis());
                    self.room.close(&reason, unix_ms());
                    self.dispatch();
                }
            }
            if let Some(reason) = self.room.closed() {
                return reason.to_owned();
            }
            let empty = self.room.clients() == 0
                && self.room.reserved() == 0
                && self.facts.seats.load(Ordering::Acquire) == 0;
            empty_since = match (empty, empty_since) {
                (true, None) => Some(Instant::now()),
                (true, since) => since,
                (false, _) => None,
            };
        }
        self.room.closed().unwrap_or_default().to_owned()
    }

    fn handle(&mut self, cmd: RoomCmd) {
        let now = unix_ms();
        match cmd {
            RoomCmd::Join {
                session,
                epoch,
                rid,
                options,
                created,
            } => self.join(session, epoch, rid, options, created, now),
            RoomCmd::Leave {
                session,
                rid,
                consented,
            } => self.room.leave(&session, rid, consented, now),
            RoomCmd::Message {
                session,
                rid,
                kind,
                body,
            } => self.room.message(&session, rid, kind, body, now),
            RoomCmd::Presence {
                session,
                state,
                rid,
            } => self.room.presence_set(&session, state, rid),
            RoomCmd::Ack {
                session,
                seq,
                checksum,
            } => self.room.ack(&session, seq, checksum),
            RoomCmd::Resync { session, rid } => self.room.resync(&session, rid),
            RoomCmd::Suspend { session } => self.room.suspend(&session),
            RoomCmd::Resume { session, epoch } => {
                let id = session.id.clone();
                if let Some(link) = self.links.get_mut(&id) {
                    link.epoch = epoch;
                }
                if !self.room.resume(&id) {
                    self.links.remove(&id);
                    forget_room(&session, &self.facts);
                }
            }
            RoomCmd::Close { reason } => self.room.close(&reason, now),
            RoomCmd::Reserve {
                sessions,
                expires_ms,
            } => {
                for session in sessions {
                    if !self.room.is_member(&session) {
                        // Released by Output::ReservationEnded.
                        self.facts.take_seat();
                    }
                    self.room.reserve(session, expires_ms);
                }
            }
        }
    }

    fn join(
        &mut self,
        session: Arc<Session>,
        epoch: u64,
        rid: Option<Rid>,
        options: Value,
        created: bool,
        now: u64,
    ) {
        let id = session.id.clone();
        let already = self.room.is_member(&id);
        let user_id = session.user_id.clone();
        self.links.insert(
            id.clone(),
            Link {
                session: session.clone(),
                epoch,
            },
        );
        let req = JoinRequest {
            session: id.clone(),
            user_id,
            options,
            rid,
            created,
        };
        let outcome = self.room.join(req, now);
        // Deliver the refusal while the link still exists.
        self.dispatch();
        if already {
            self.facts.release_seat();
        }
        if let JoinOutcome::Refused(_) = outcome {
            self.facts.release_seat();
            self.links.remove(&id);
            forget_room(&session, &self.facts);
        }
    }

    /// Delivers the room's output and publishes its public facts.
    fn dispatch(&mut self) {
        // Field-level borrows: the room's output buffer keeps its capacity.
        let (links, facts, rt) = (&mut self.links, &self.facts, &self.rt);
        let mut seat_freed = false;
        for output in self.room.drain_output() {
            match output {
                Output::Send {
                    to,
                    frame,
                    delivery,
                } => {
                    let Some(link) = links.get(&to) else {
                        continue;
                    };
                    let metrics = &rt.metrics;
                    if delivery == Delivery::Unreliable
                        && let Some(len) = link.session.try_datagram(&frame)
                    {
                        metrics.count_out(frame.frame().msg.message_type(), len);
                        continue;
                    }
                    match link.session.outbox.push(link.epoch, frame, delivery) {
                        Push::Queued { dropped: false } | Push::Rejected => {}
                        Push::Queued { dropped: true } | Push::Dropped => {
                            metrics
                                .outbox_drops_total
                                .with_label_values(&["unreliable"])
                                .inc();
                        }
                        Push::Overflow => {
                            metrics
                                .outbox_drops_total
                                .with_label_values(&["overflow"])
                                .inc();
                        }
                    }
                }
                Output::Removed { session } => {
                    if let Some(link) = links.remove(&session) {
                        forget_room(&link.session, facts);
                    }
                    facts.release_seat();
                    seat_freed = true;
                }
                Output::ReservationEnded { claimed, .. } => {
                    // The reservation held a seat; a claiming join holds its own.
                    facts.release_seat();
                    if !claimed {
                        seat_freed = true;
                        rt.metrics
                            .reservations_expired_total
                            .with_label_values(&[&facts.room_type])
                            .inc();
                    }
                }
                Output::HookFailed { error } => {
                    tracing::warn!(room = %facts.id, room_type = %facts.room_type, %error, "plugin hook failed");
                }
                Output::Closed { .. } => {}
            }
        }
        if seat_freed && self.room.closed().is_none() {
            self.refill();
        }
        self.publish();
    }

    /// Backfill: offers the seats a matched room lost to its queue; each
    /// session taken gets a reserved seat and `match.found`.
    fn refill(&mut self) {
        let Some(mut fill) = self.backfill.clone() else {
            return;
        };
        let taken_seats = self.room.clients() + self.room.reserved();
        fill.free = fill
            .size
            .saturating_sub(u32::try_from(taken_seats).unwrap_or(u32::MAX));
        if fill.free == 0 {
            return;
        }
        let taken = self.rt.matchmaking.backfill(&fill);
        if taken.is_empty() {
            return;
        }
        let ttl = u64::try_from(self.rt.config.reservation_ttl.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = unix_ms().saturating_add(ttl);
        for (session, _, _) in &taken {
            self.facts.take_seat();
            self.room.reserve(session.clone(), expires_ms);
        }
        let mut participants: Vec<SessionId> = self.links.keys().cloned().collect();
        participants.extend(taken.iter().map(|(s, _, _)| s.clone()));
        let wait = self
            .rt
            .metrics
            .matchmaking_wait_seconds
            .with_label_values(&[&self.facts.room_type]);
        for (session, ticket, waited) in taken {
            wait.observe(waited.as_secs_f64());
            let Some(s) = self.rt.sessions.get(&session) else {
                continue;
            };
            s.send(ServerFrame::new(arbiter_protocol::MatchFound {
                room: self.facts.id.clone(),
                room_type: self.facts.room_type.clone(),
                size: fill.size,
                participants: participants.clone(),
                ticket,
            }));
        }
    }

    fn publish(&self) {
        let f = &self.facts;
        let max = self.room.max_clients().unwrap_or(0);
        f.max_clients.store(max, Ordering::Release);
        let clients = u32::try_from(self.room.clients()).unwrap_or(u32::MAX);
        f.clients.store(clients, Ordering::Release);
        f.locked.store(self.room.locked(), Ordering::Release);
        f.seq.store(self.room.seq().0, Ordering::Release);
        let mut meta = f.metadata();
        if *meta != *self.room.metadata() {
            *meta = self.room.metadata().clone();
        }
        drop(meta);
        f.ready.store(true, Ordering::Release);
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Whether a server frame is a patch (for the patch-size metric).
pub(crate) fn is_patch(frame: &ServerFrame) -> bool {
    matches!(frame.msg, ServerMessage::StatePatch(_))
}
