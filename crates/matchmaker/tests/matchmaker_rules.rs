//! The matching rules of docs/matchmaking.md, on a virtual clock.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use arbiter_matchmaker::{
    EnqueueRequest, Event, InMemoryBackend, Match, Matchmaker, MatchmakerConfig, QueueRules,
};
use arbiter_protocol::{ErrorCode, SessionId, TicketId};
use serde_json::{Value, json};

fn sid(s: &str) -> SessionId {
    SessionId::new(s).expect("valid session id")
}

fn req(session: &str, room_type: &str, size: u32, props: Value) -> EnqueueRequest {
    EnqueueRequest {
        project: "demo".into(),
        session: sid(session),
        room_type: room_type.into(),
        size,
        max_clients: Some(16),
        properties: props.as_object().cloned(),
        party: None,
    }
}

fn party(session: &str, size: u32, party: &str) -> EnqueueRequest {
    EnqueueRequest {
        party: Some(party.into()),
        ..req(session, "arena", size, json!({}))
    }
}

fn matches(events: &[Event]) -> Vec<&Match> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Matched(m) => Some(m),
            Event::TimedOut { .. } => None,
        })
        .collect()
}

fn sessions(m: &Match) -> Vec<&str> {
    m.participants.iter().map(|(s, _)| s.as_str()).collect()
}

/// A matchmaker that examines queues on every poll (no batching interval),
/// so that each test sees the rules alone.
fn exact() -> Matchmaker {
    let config = MatchmakerConfig {
        min_eval_interval: Duration::ZERO,
        ..MatchmakerConfig::default()
    };
    Matchmaker::new(config, InMemoryBackend::new())
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

#[test]
fn oldest_tickets_are_matched_first() {
    let mut mm = exact();
    let t0 = Instant::now();
    for (i, s) in ["s_a", "s_b", "s_c"].into_iter().enumerate() {
        mm.enqueue(req(s, "duel", 2, json!({})), secs(t0, i as f64))
            .expect("queued");
    }
    let events = mm.poll(secs(t0, 2.0));
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(sessions(found[0]), ["s_a", "s_b"]);
    assert_eq!(
        found[0].waited,
        [Duration::from_secs(2), Duration::from_secs(1)]
    );
    assert_eq!(mm.queue_len("demo", "duel"), 1);

    mm.enqueue(req("s_d", "duel", 2, json!({})), secs(t0, 3.0))
        .expect("queued");
    let events = mm.poll(secs(t0, 3.0));
    assert_eq!(sessions(matches(&events)[0]), ["s_c", "s_d"]);
}

#[test]
fn the_oldest_compatible_ticket_wins_over_a_closer_younger_one() {
    let mut mm = exact();
    let t0 = Instant::now();
    for (s, skill) in [("s_a", 1000), ("s_b", 1090), ("s_c", 1001), ("s_d", 2000)] {
        mm.enqueue(req(s, "duel", 2, json!({ "skill": skill })), t0)
            .expect("queued");
    }
    let events = mm.poll(t0);
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(sessions(found[0]), ["s_a", "s_b"]);
    assert_eq!(found[0].options["match"]["skill"], json!(1045.0));
    assert_eq!(mm.queue_len("demo", "duel"), 2);
}

#[test]
fn skill_windows_widen_with_waiting_time() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(req("s_a", "duel", 2, json!({ "skill": 1000 })), t0)
        .expect("queued");
    mm.enqueue(req("s_b", "duel", 2, json!({ "skill": 1300 })), t0)
        .expect("queued");
    assert!(mm.poll(t0).is_empty(), "300 apart, windows ±100");
    assert!(mm.poll(secs(t0, 3.0)).is_empty(), "windows ±250");
    // ±100 + 50/s reaches 300 after 4 s (plus a millisecond of slack).
    let wake = mm.next_deadline().expect("a deadline");
    assert!(wake > secs(t0, 3.99) && wake <= secs(t0, 4.01), "{wake:?}");
    let events = mm.poll(wake);
    assert_eq!(sessions(matches(&events)[0]), ["s_a", "s_b"]);
}

#[test]
fn windows_widen_at_the_rate_of_their_room_type() {
    let fast = QueueRules {
        skill_window_growth_per_sec: 1000.0,
        ..QueueRules::default()
    };
    let config = MatchmakerConfig {
        rules: HashMap::from([("fast".to_string(), fast)]),
        min_eval_interval: Duration::ZERO,
        ..MatchmakerConfig::default()
    };
    let mut mm = Matchmaker::new(config, InMemoryBackend::new());
    let t0 = Instant::now();
    for rt in ["fast", "slow"] {
        mm.enqueue(req("s_a", rt, 2, json!({ "skill": 1000 })), t0)
            .expect("queued");
        mm.enqueue(req("s_b", rt, 2, json!({ "skill": 1300 })), t0)
            .expect("queued");
    }
    let events = mm.poll(secs(t0, 1.0));
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].room_type, "fast");
    // s_a and s_b were matched in "fast": their "slow" tickets are withdrawn.
    assert_eq!(found[0].withdrawn.len(), 2);
    assert_eq!(mm.queue_len("demo", "slow"), 0);
}

#[test]
fn string_properties_need_the_same_keys_and_values() {
    let mut mm = exact();
    let t0 = Instant::now();
    let cases = [
        ("s_a", json!({ "region": "eu" })),
        ("s_b", json!({ "region": "us" })),
        ("s_c", json!({ "region": "eu", "mode": "ranked" })),
        ("s_d", json!({})),
    ];
    for (s, props) in cases {
        mm.enqueue(req(s, "duel", 2, props), t0).expect("queued");
    }
    assert!(mm.poll(secs(t0, 30.0)).is_empty());
    mm.enqueue(
        req(
            "s_e",
            "duel",
            2,
            json!({ "mode": "ranked", "region": "eu" }),
        ),
        secs(t0, 30.0),
    )
    .expect("queued");
    let events = mm.poll(secs(t0, 30.0));
    let found = matches(&events);
    assert_eq!(sessions(found[0]), ["s_c", "s_e"]);
    assert_eq!(
        found[0].options["match"]["properties"],
        json!({ "mode": "ranked", "region": "eu" })
    );
}

#[test]
fn a_party_lands_whole_in_one_match() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(party("s_p1", 4, "friends"), t0).expect("queued");
    for s in ["s_a", "s_b", "s_c"] {
        mm.enqueue(req(s, "arena", 4, json!({})), t0)
            .expect("queued");
    }
    // Four tickets, but the party may still grow: it settles first.
    assert!(mm.poll(t0).is_empty());
    mm.enqueue(party("s_p2", 4, "friends"), secs(t0, 0.5))
        .expect("queued");
    assert!(mm.poll(secs(t0, 0.5)).is_empty());
    let wake = mm.next_deadline().expect("the party settles");
    assert_eq!(wake, secs(t0, 1.5));
    let events = mm.poll(wake);
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(sessions(found[0]), ["s_p1", "s_a", "s_b", "s_p2"]);
    assert_eq!(
        found[0].options["match"]["parties"],
        json!({ "friends": ["s_p1", "s_p2"] })
    );
    assert_eq!(mm.queue_len("demo", "arena"), 1);
}

#[test]
fn a_party_is_never_split() {
    let mut mm = exact();
    let t0 = Instant::now();
    for (s, p) in [
        ("s_p1", "red"),
        ("s_p2", "red"),
        ("s_q1", "blue"),
        ("s_q2", "blue"),
    ] {
        mm.enqueue(party(s, 3, p), t0).expect("queued");
    }
    // Four players, but two duos never make a match of three.
    assert!(mm.poll(secs(t0, 5.0)).is_empty());
    assert_eq!(mm.queue_len("demo", "arena"), 4);
    mm.enqueue(req("s_a", "arena", 3, json!({})), secs(t0, 5.0))
        .expect("queued");
    let events = mm.poll(secs(t0, 5.0));
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(sessions(found[0]), ["s_p1", "s_p2", "s_a"]);
    assert_eq!(mm.queue_len("demo", "arena"), 2);
}

#[test]
fn a_party_larger_than_the_match_is_rejected() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(party("s_p1", 2, "trio"), t0).expect("queued");
    mm.enqueue(party("s_p2", 2, "trio"), t0).expect("queued");
    let err = mm
        .enqueue(party("s_p3", 2, "trio"), t0)
        .expect_err("too big");
    assert_eq!(err.code(), ErrorCode::MatchmakingInvalid);
    assert!(err.reason().contains("trio"), "{err}");
    let err = mm
        .enqueue(party("s_p4", 3, "trio"), t0)
        .expect_err("another size");
    assert_eq!(err.code(), ErrorCode::MatchmakingInvalid);
    let events = mm.poll(secs(t0, 2.0));
    assert_eq!(sessions(matches(&events)[0]), ["s_p1", "s_p2"]);
}

#[test]
fn a_party_with_a_paused_member_waits() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(party("s_p1", 2, "duo"), t0).expect("queued");
    mm.enqueue(party("s_p2", 2, "duo"), t0).expect("queued");
    mm.pause_session(&sid("s_p2"));
    assert!(mm.poll(secs(t0, 2.0)).is_empty());
    mm.resume_session(&sid("s_p2"));
    assert_eq!(matches(&mm.poll(secs(t0, 2.0))).len(), 1);
}

#[test]
fn a_session_queued_for_two_room_types_is_matched_once() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_a", "ffa", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_b", "duel", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_c", "ffa", 2, json!({})), t0)
        .expect("queued");
    let events = mm.poll(t0);
    let found = matches(&events);
    assert_eq!(found.len(), 1);
    let with_a: Vec<_> = found
        .iter()
        .filter(|m| sessions(m).contains(&"s_a"))
        .collect();
    assert_eq!(with_a.len(), 1);
    assert_eq!(found[0].withdrawn.len(), 1);
    assert_eq!(found[0].withdrawn[0].session, sid("s_a"));
    assert_eq!(
        mm.queue_len("demo", "duel") + mm.queue_len("demo", "ffa"),
        1
    );
}

#[test]
fn a_paused_ticket_keeps_its_place() {
    let mut mm = exact();
    let t0 = Instant::now();
    let a = mm
        .enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    mm.pause_session(&sid("s_a"));
    mm.enqueue(req("s_b", "duel", 2, json!({})), secs(t0, 1.0))
        .expect("queued");
    assert!(mm.poll(secs(t0, 1.0)).is_empty(), "s_a is paused");
    mm.resume_session(&sid("s_a"));
    mm.enqueue(req("s_c", "duel", 2, json!({})), secs(t0, 2.0))
        .expect("queued");
    assert_eq!(
        mm.ticket_age(&a, secs(t0, 2.0)),
        Some(Duration::from_secs(2))
    );
    let events = mm.poll(secs(t0, 2.0));
    let found = matches(&events);
    assert_eq!(sessions(found[0]), ["s_a", "s_b"]);
    assert_eq!(found[0].participants[0].1, a);
    assert_eq!(mm.queue_len("demo", "duel"), 1);
}

#[test]
fn removed_sessions_lose_their_tickets() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_a", "ffa", 2, json!({})), t0)
        .expect("queued");
    mm.pause_session(&sid("s_a"));
    assert_eq!(mm.remove_session(&sid("s_a")), 2);
    assert_eq!(mm.remove_session(&sid("s_a")), 0);
    mm.enqueue(req("s_b", "duel", 2, json!({})), t0)
        .expect("queued");
    assert!(mm.poll(t0).is_empty());
    assert_eq!(mm.queue_lens(), [("duel".to_string(), 1)]);
}

#[test]
fn tickets_time_out_after_their_ttl() {
    let mut mm = exact();
    let t0 = Instant::now();
    let a = mm
        .enqueue(req("s_a", "duel", 2, json!({ "region": "eu" })), t0)
        .expect("queued");
    let p1 = mm
        .enqueue(party("s_p1", 4, "trio"), secs(t0, 1.0))
        .expect("queued");
    let p2 = mm
        .enqueue(party("s_p2", 4, "trio"), secs(t0, 1.0))
        .expect("queued");
    assert!(mm.poll(secs(t0, 59.0)).is_empty());
    assert_eq!(mm.next_deadline(), Some(secs(t0, 60.0)));
    let events = mm.poll(secs(t0, 60.0));
    assert_eq!(
        events,
        [Event::TimedOut {
            project: "demo".into(),
            session: sid("s_a"),
            room_type: "duel".into(),
            ticket: a,
        }]
    );
    let events = mm.poll(secs(t0, 61.0));
    let expired: BTreeSet<TicketId> = events
        .iter()
        .filter_map(|e| match e {
            Event::TimedOut { ticket, .. } => Some(ticket.clone()),
            Event::Matched(_) => None,
        })
        .collect();
    assert_eq!(expired, BTreeSet::from([p1, p2]));
    assert_eq!(mm.next_deadline(), None);
}

#[test]
fn dequeue_counts_what_it_removed() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_a", "ffa", 2, json!({})), t0)
        .expect("queued");
    mm.enqueue(req("s_a", "race", 2, json!({})), t0)
        .expect("queued");
    assert_eq!(mm.dequeue("other", &sid("s_a"), None), 0);
    assert_eq!(mm.dequeue("demo", &sid("s_a"), Some("duel")), 1);
    assert_eq!(mm.dequeue("demo", &sid("s_a"), Some("duel")), 0);
    assert_eq!(mm.dequeue("demo", &sid("s_a"), None), 2);
    assert_eq!(mm.dequeue("demo", &sid("s_a"), None), 0);
    // Dequeued, the session can queue again.
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
}

#[test]
fn invalid_requests_carry_their_code_and_a_reason() {
    let mut mm = exact();
    let t0 = Instant::now();
    let mut too_big = req("s_a", "duel", 17, json!({}));
    too_big.max_clients = Some(16);
    let mut no_type = req("s_a", "", 2, json!({}));
    no_type.room_type.clear();
    let invalid = [
        req("s_a", "duel", 0, json!({})),
        too_big,
        no_type,
        req("s_a", "duel", 2, json!({ "ranked": true })),
        req("s_a", "duel", 2, json!({ "skill": "pro" })),
        req("s_a", "duel", 2, json!({ "level": 3 })),
    ];
    for r in invalid {
        let err = mm.enqueue(r, t0).expect_err("invalid");
        assert_eq!(err.code(), ErrorCode::MatchmakingInvalid, "{err}");
        assert!(err.reason().starts_with("matchmaking.enqueue: "), "{err}");
    }
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    let err = mm
        .enqueue(req("s_a", "duel", 4, json!({ "region": "eu" })), t0)
        .expect_err("already queued");
    assert_eq!(err.code(), ErrorCode::MatchmakingAlreadyQueued);
    mm.enqueue(req("s_a", "ffa", 2, json!({})), t0)
        .expect("another room type is fine");
    assert_eq!(mm.queue_len("demo", "duel"), 1);
}

#[test]
fn a_busy_queue_is_examined_at_most_every_interval() {
    let mut mm = Matchmaker::default();
    let t0 = Instant::now();
    mm.enqueue(req("s_a", "duel", 2, json!({})), t0)
        .expect("queued");
    assert!(mm.poll(t0).is_empty());
    mm.enqueue(req("s_b", "duel", 2, json!({})), secs(t0, 0.01))
        .expect("queued");
    // Examined 10 ms ago: the new ticket waits for the 50 ms interval.
    assert!(mm.poll(secs(t0, 0.01)).is_empty());
    assert_eq!(mm.next_deadline(), Some(secs(t0, 0.05)));
    let events = mm.poll(secs(t0, 0.05));
    assert_eq!(sessions(matches(&events)[0]), ["s_a", "s_b"]);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue {
            s: u8,
            rt: u8,
            region: u8,
            skill: Option<u16>,
        },
        Dequeue {
            s: u8,
            rt: Option<u8>,
        },
        Pause(u8),
        Resume(u8),
        Remove(u8),
        Advance(u16),
        Poll,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12, 0u8..2, 0u8..2, proptest::option::of(800u16..1600))
                .prop_map(|(s, rt, region, skill)| Op::Enqueue { s, rt, region, skill }),
            1 => (0u8..12, proptest::option::of(0u8..2)).prop_map(|(s, rt)| Op::Dequeue { s, rt }),
            1 => (0u8..12).prop_map(Op::Pause),
            1 => (0u8..12).prop_map(Op::Resume),
            1 => (0u8..12).prop_map(Op::Remove),
            2 => (0u16..20_000).prop_map(Op::Advance),
            3 => Just(Op::Poll),
        ]
    }

    struct Queued {
        session: SessionId,
        room_type: String,
        region: u8,
        skill: Option<f64>,
        at: Instant,
    }

    const ROOM_TYPES: [(&str, u32); 2] = [("duel", 2), ("squad", 3)];

    proptest! {
        #[test]
        fn matches_are_full_compatible_and_never_double_book(
            ops in proptest::collection::vec(op(), 1..120),
            batched in any::<bool>(),
        ) {
            let rules = QueueRules::default();
            let mut mm = if batched { Matchmaker::default() } else { exact() };
            let t0 = Instant::now();
            let mut now = t0;
            let mut queued: HashMap<TicketId, Queued> = HashMap::new();
            let mut paused: BTreeSet<SessionId> = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Enqueue { s, rt, region, skill } => {
                        let (room_type, size) = ROOM_TYPES[usize::from(rt)];
                        let mut props = json!({ "region": format!("r{region}") });
                        if let Some(k) = skill {
                            props["skill"] = json!(k);
                        }
                        let session = sid(&format!("s_{s}"));
                        let dup = queued.values().any(|q| q.session == session && q.room_type == room_type);
                        match mm.enqueue(req(session.as_str(), room_type, size, props), now) {
                            Ok(id) => {
                                prop_assert!(!dup);
                                queued.insert(id, Queued {
                                    session, room_type: room_type.into(), region,
                                    skill: skill.map(f64::from), at: now,
                                });
                            }
                            Err(e) => {
                                prop_assert!(dup);
                                prop_assert_eq!(e.code(), ErrorCode::MatchmakingAlreadyQueued);
                            }
                        }
                    }
                    Op::Dequeue { s, rt } => {
                        let session = sid(&format!("s_{s}"));
                        let rt = rt.map(|i| ROOM_TYPES[usize::from(i)].0);
                        let before = queued.len();
                        queued.retain(|_, q| !(q.session == session && rt.is_none_or(|r| q.room_type == r)));
                        let n = mm.dequeue("demo", &session, rt);
                        prop_assert_eq!(n as usize, before - queued.len());
                    }
                    Op::Pause(s) => {
                        let session = sid(&format!("s_{s}"));
                        mm.pause_session(&session);
                        paused.insert(session);
                    }
                    Op::Resume(s) => {
                        let session = sid(&format!("s_{s}"));
                        mm.resume_session(&session);
                        paused.remove(&session);
                    }
                    Op::Remove(s) => {
                        let session = sid(&format!("s_{s}"));
                        let before = queued.len();
                        queued.retain(|_, q| q.session != session);
                        prop_assert_eq!(mm.remove_session(&session) as usize, before - queued.len());
                        paused.remove(&session);
                    }
                    Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                    Op::Poll => {
                        let events = mm.poll(now);
                        let mut in_this_poll = BTreeSet::new();
                        for e in &events {
                            match e {
                                Event::TimedOut { ticket, .. } => {
                                    let q = queued.remove(ticket);
                                    prop_assert!(q.is_some_and(|q| now >= q.at + rules.ticket_ttl));
                                }
                                Event::Matched(m) => check_match(m, &mut queued, &paused, &mut in_this_poll, &rules, now)?,
                            }
                        }
                    }
                }
                let total: usize = ROOM_TYPES.iter().map(|(rt, _)| mm.queue_len("demo", rt)).sum();
                prop_assert_eq!(total, queued.len());
            }
        }
    }

    fn check_match(
        m: &Match,
        queued: &mut HashMap<TicketId, Queued>,
        paused: &BTreeSet<SessionId>,
        in_this_poll: &mut BTreeSet<SessionId>,
        rules: &QueueRules,
        now: Instant,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(m.participants.len() as u32, m.size);
        let mut members = Vec::new();
        for (session, ticket) in &m.participants {
            prop_assert!(
                in_this_poll.insert(session.clone()),
                "{} in two matches",
                session
            );
            prop_assert!(!paused.contains(session));
            let q = queued.remove(ticket);
            prop_assert!(q.is_some(), "matched ticket was not queued");
            let q = q.expect("checked");
            prop_assert_eq!(&q.session, session);
            prop_assert_eq!(&q.room_type, &m.room_type);
            members.push(q);
        }
        for w in &m.withdrawn {
            prop_assert!(queued.remove(&w.id).is_some());
        }
        for (i, a) in members.iter().enumerate() {
            prop_assert!(
                queued.values().all(|q| q.session != a.session),
                "a matched session is still queued"
            );
            for b in &members[i + 1..] {
                prop_assert_eq!(a.region, b.region);
                if let (Some(x), Some(y)) = (a.skill, b.skill) {
                    let wa = rules.window(now - a.at);
                    let wb = rules.window(now - b.at);
                    prop_assert!(
                        (x - y).abs() <= wa.min(wb),
                        "{} vs {} at windows {} {}",
                        x,
                        y,
                        wa,
                        wb
                    );
                }
            }
        }
        Ok(())
    }
}

#[test]
fn backfill_takes_the_oldest_fitting_units_of_the_rooms_queue() {
    let mut mm = exact();
    let t0 = Instant::now();
    mm.enqueue(req("us-1", "arena", 4, json!({ "region": "us" })), t0)
        .unwrap();
    mm.enqueue(party("p-1", 4, "duo"), t0).unwrap();
    mm.enqueue(party("p-2", 4, "duo"), t0).unwrap();
    mm.enqueue(
        req("eu-1", "arena", 4, json!({ "region": "eu" })),
        secs(t0, 1.0),
    )
    .unwrap();
    mm.enqueue(
        req("eu-2", "arena", 4, json!({ "region": "eu" })),
        secs(t0, 2.0),
    )
    .unwrap();
    let fill = |props: &[(&str, &str)], free| arbiter_matchmaker::Backfill {
        project: "demo".into(),
        room_type: "arena".into(),
        size: 4,
        properties: props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        skill: None,
        free,
    };
    // One eu seat: the oldest eu ticket, nobody else.
    let taken = mm.backfill(&fill(&[("region", "eu")], 1), secs(t0, 3.0));
    let who: Vec<&str> = taken.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(who, ["eu-1"]);
    assert_eq!(taken[0].2, Duration::from_secs(2));
    // A party of two never takes a single seat, and is taken whole into two.
    assert!(mm.backfill(&fill(&[], 1), secs(t0, 3.0)).is_empty());
    let taken = mm.backfill(&fill(&[], 2), secs(t0, 3.0));
    let mut who: Vec<&str> = taken.iter().map(|(s, _, _)| s.as_str()).collect();
    who.sort_unstable();
    assert_eq!(who, ["p-1", "p-2"]);
    // Taken tickets left the queue.
    assert_eq!(mm.dequeue("demo", &sid("eu-1"), None), 0);
    assert_eq!(mm.dequeue("demo", &sid("eu-2"), None), 1);
}
