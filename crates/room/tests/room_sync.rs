//! The room state machine through a plain-Rust logic: joins, seats, patches,
//! failures, acks, resync, suspend/resume and presence.

mod common;

use arbiter_protocol::{ErrorCode, RpcOk, RpcResponse, Seq, ServerMessage};
use arbiter_room::{Delivery, Output, RoomConfig};
use common::*;
use serde_json::{Value, json};

fn rpc_err(frames: &[arbiter_protocol::ServerFrame]) -> Option<(ErrorCode, String)> {
    frames.iter().find_map(|f| match &f.msg {
        ServerMessage::RpcResponse(RpcResponse::Err { code, reason }) => {
            Some((*code, reason.clone()))
        }
        _ => None,
    })
}

#[test]
fn join_sends_response_snapshot_presence_and_tells_the_others() {
    let mut r = room(Game::default(), RoomConfig::default());
    let (a, b) = (sid("a"), sid("b"));
    let out = join(&mut r, &a);
    let to_a = frames_to(&out, &a);
    assert_eq!(
        types(&to_a),
        ["rpc.response", "state.snapshot", "presence.state"]
    );
    assert!(
        matches!(&to_a[0].msg, ServerMessage::RpcResponse(RpcResponse::Ok(RpcOk::Joined(j))) if !j.created)
    );
    assert_eq!(to_a[0].rid, Some(arbiter_protocol::Rid::from("j")));

    let out = join(&mut r, &b);
    let to_a = frames_to(&out, &a);
    // The existing member gets the join's change as a patch, then presence.
    assert_eq!(types(&to_a), ["state.patch", "presence.diff"]);
    let to_b = frames_to(&out, &b);
    let ServerMessage::StateSnapshot(snap) = &to_b[1].msg else {
        panic!("{to_b:?}")
    };
    // The joiner's snapshot sits at the seq of that patch.
    assert_eq!(patch_seqs(&to_a), [snap.seq.0]);
    assert_eq!(
        snap.state,
        json!({ "players": { "s_a": { "v": 0 }, "s_b": { "v": 0 } } })
    );
    let ServerMessage::PresenceState(p) = &to_b[2].msg else {
        panic!()
    };
    assert_eq!(p.members.len(), 2);
    assert_eq!(p.members[&a].user_id, "user-s_a");
}

#[test]
fn seats_lock_and_rejection_refuse_without_changing_state() {
    let game = Game {
        max_clients: 2,
        ..Game::default()
    };
    let mut r = room(game, RoomConfig::default());
    let (a, b, c) = (sid("a"), sid("b"), sid("c"));
    join(&mut r, &a);
    let out = join_with(&mut r, &b, json!({ "refuse": true }));
    assert_eq!(
        rpc_err(&frames_to(&out, &b)),
        Some((ErrorCode::RoomRejected, "no entry".into()))
    );
    assert!(
        frames_to(&out, &a).is_empty(),
        "a refused join sends nothing to members"
    );
    join(&mut r, &b);
    let before = r.state().clone();
    let out = join(&mut r, &c);
    let (code, reason) = rpc_err(&frames_to(&out, &c)).unwrap();
    assert_eq!(code, ErrorCode::RoomFull);
    assert_eq!(reason, "room r1 is full (2/2)");
    assert_eq!(r.state(), &before);

    let mut r = room(Game::default(), RoomConfig::default());
    join(&mut r, &a);
    msg(&mut r, &a, "lock", Value::Null);
    assert!(r.locked());
    let out = join(&mut r, &b);
    assert_eq!(
        rpc_err(&frames_to(&out, &b)).unwrap().0,
        ErrorCode::RoomLocked
    );
}

#[test]
fn event_driven_room_sends_one_patch_per_batch_with_checksum() {
    let mut r = room(Game::default(), RoomConfig::default());
    let a = sid("a");
    join(&mut r, &a);
    let seq0 = r.seq();
    msg(&mut r, &a, "set", json!(1));
    msg(&mut r, &a, "set", json!(2));
    r.flush();
    let out: Vec<Output> = r.drain_output().collect();
    let frames = frames_to(&out, &a);
    assert_eq!(types(&frames), ["state.patch"]);
    let ServerMessage::StatePatch(p) = &frames[0].msg else {
        panic!()
    };
    assert_eq!(p.seq, Seq(seq0.0 + 1));
    // Two sets of one path in a batch: only the last is sent.
    assert_eq!(p.ops.len(), 1);
    assert_eq!(
        p.ops[0],
        arbiter_state::PatchOp::set("/players/s_a/v", json!(2))
    );
    let expected = arbiter_state::checksum(r.state()).as_u64();
    assert_eq!(p.checksum.map(|c| c.0), Some(expected));
    // Nothing changed: nothing sent.
    r.flush();
    assert_eq!(r.drain_output().count(), 0);
}

#[test]
fn ticking_room_holds_changes_until_the_tick() {
    let mut r = room(
        Game {
            tick_rate: 20,
            ..Game::default()
        },
        RoomConfig::default(),
    );
    let a = sid("a");
    join(&mut r, &a);
    let out = msg(&mut r, &a, "set", json!(7));
    assert!(frames_to(&out, &a).is_empty(), "no patch before the tick");
    r.tick(50);
    let out: Vec<Output> = r.drain_output().collect();
    let frames = frames_to(&out, &a);
    assert_eq!(types(&frames), ["state.patch"]);
    let ServerMessage::StatePatch(p) = &frames[0].msg else {
        panic!()
    };
    // The message's change and the tick's change, in one patch.
    assert_eq!(p.ops.len(), 2);
}

#[test]
fn failed_hooks_change_nothing_restore_and_close_past_the_budget() {
    let config = RoomConfig {
        max_errors: 3,
        ..RoomConfig::default()
    };
    let mut r = room(Game::default(), config);
    let (a, b) = (sid("a"), sid("b"));
    join(&mut r, &a);
    join(&mut r, &b);
    msg(&mut r, &a, "set", json!(5));
    r.flush();
    r.drain_output().count();
    let before = r.state().clone();

    let out = msg(&mut r, &a, "bad", Value::Null);
    assert!(out.iter().any(|o| matches!(o, Output::HookFailed { .. })));
    assert_eq!(
        r.state(),
        &before,
        "ops that do not apply are discarded whole"
    );
    let out = msg(&mut r, &a, "boom", Value::Null);
    assert!(out.iter().any(|o| matches!(o, Output::HookFailed { .. })));
    assert_eq!(r.state(), &before);
    // The next hook runs after a restore, and works.
    msg(&mut r, &a, "set", json!(6));
    assert_eq!(r.state()["players"]["s_a"]["v"], 6);
    assert_eq!(r.errors(), 2);
    assert!(r.closed().is_none());

    let out = msg(&mut r, &b, "boom", Value::Null);
    assert!(r.closed().is_some());
    for who in [&a, &b] {
        let frames = frames_to(&out, who);
        assert_eq!(types(&frames).last(), Some(&"room.closed"), "{frames:?}");
    }
    assert!(out.iter().any(|o| matches!(o, Output::Closed { .. })));
    assert_eq!(r.clients(), 0);
}

#[test]
fn ack_with_a_wrong_checksum_earns_a_snapshot_and_resync_answers() {
    let mut r = room(Game::default(), RoomConfig::default());
    let a = sid("a");
    join(&mut r, &a);
    msg(&mut r, &a, "set", json!(1));
    r.flush();
    r.drain_output().count();
    let right = arbiter_protocol::Checksum(arbiter_state::checksum(r.state()).as_u64());
    r.ack(&a, r.seq(), Some(right));
    assert_eq!(r.drain_output().count(), 0);
    r.ack(&a, r.seq(), Some(arbiter_protocol::Checksum(right.0 ^ 1)));
    let out: Vec<Output> = r.drain_output().collect();
    assert_eq!(types(&frames_to(&out, &a)), ["state.snapshot"]);

    r.resync(&a, Some("r-1".into()));
    let out: Vec<Output> = r.drain_output().collect();
    assert_eq!(
        types(&frames_to(&out, &a)),
        ["rpc.response", "state.snapshot"]
    );
    r.resync(&sid("z"), Some("r-2".into()));
    let out: Vec<Output> = r.drain_output().collect();
    assert_eq!(
        rpc_err(&frames_to(&out, &sid("z"))).unwrap().0,
        ErrorCode::RoomNotMember
    );
}

#[test]
fn resume_replays_missed_patches_or_sends_a_snapshot() {
    let config = RoomConfig {
        patch_history: 4,
        max_replay: 4,
        ..RoomConfig::default()
    };
    let mut r = room(Game::default(), config);
    let (a, b) = (sid("a"), sid("b"));
    join(&mut r, &a);
    join(&mut r, &b);
    r.ack(&b, r.seq(), None);
    let acked = r.seq().0;
    r.suspend(&b);
    // Two patches: always kept, whatever they weigh against the state.
    for v in 0..2 {
        msg(&mut r, &a, "set", json!(v));
        r.flush();
    }
    let out: Vec<Output> = r.drain_output().collect();
    assert!(
        frames_to(&out, &b).is_empty(),
        "nothing is sent to a suspended member"
    );
    assert!(r.resume(&b));
    let out: Vec<Output> = r.drain_output().collect();
    let frames = frames_to(&out, &b);
    assert_eq!(patch_seqs(&frames), [acked + 1, acked + 2]);
    assert_eq!(types(&frames).last(), Some(&"presence.state"));

    // Beyond the history: a snapshot.
    r.suspend(&b);
    for v in 0..6 {
        msg(&mut r, &a, "set", json!(v));
        r.flush();
    }
    r.drain_output().count();
    assert!(r.resume(&b));
    let out: Vec<Output> = r.drain_output().collect();
    assert_eq!(
        types(&frames_to(&out, &b)),
        ["state.snapshot", "presence.state"]
    );
}

#[test]
fn leave_presence_and_messages() {
    let mut r = room(Game::default(), RoomConfig::default());
    let (a, b) = (sid("a"), sid("b"));
    join(&mut r, &a);
    join(&mut r, &b);

    r.presence_set(&a, json!({ "ready": true }), Some("p".into()));
    let out: Vec<Output> = r.drain_output().collect();
    assert_eq!(types(&frames_to(&out, &a)), ["rpc.response"]);
    let to_b = frames_to(&out, &b);
    let ServerMessage::PresenceDiff(d) = &to_b[0].msg else {
        panic!()
    };
    assert_eq!(d.joins[&a].state, json!({ "ready": true }));

    let out = msg(&mut r, &a, "echo", json!({ "hi": 1 }));
    assert!(frames_to(&out, &a).is_empty());
    let to_b = frames_to(&out, &b);
    let ServerMessage::RoomMessage(m) = &to_b[0].msg else {
        panic!()
    };
    assert_eq!((m.kind.as_str(), m.from.as_ref()), ("echo", Some(&a)));
    assert_eq!(deliveries_to(&out, &b), [Delivery::Reliable]);

    r.leave(&a, Some("l".into()), true, 0);
    let out: Vec<Output> = r.drain_output().collect();
    assert!(matches!(
        &frames_to(&out, &a)[0].msg,
        ServerMessage::RpcResponse(RpcResponse::Ok(RpcOk::Done))
    ));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Removed { session } if session == &a))
    );
    let ServerMessage::PresenceDiff(d) = &frames_to(&out, &b)[0].msg else {
        panic!()
    };
    assert!(d.leaves.contains_key(&a));
    assert!(r.state()["players"].get("s_a").is_none());

    // Not a member any more.
    let out = msg(&mut r, &a, "set", json!(1));
    let frames = frames_to(&out, &a);
    assert!(
        matches!(&frames[0].msg, ServerMessage::Error(e) if e.code == ErrorCode::RoomNotMember)
    );
}

#[test]
fn plugin_close_tells_everyone() {
    let mut r = room(Game::default(), RoomConfig::default());
    let a = sid("a");
    join(&mut r, &a);
    let out = msg(&mut r, &a, "close", Value::Null);
    let frames = frames_to(&out, &a);
    let ServerMessage::RoomClosed(c) = &frames.last().unwrap().msg else {
        panic!("{frames:?}")
    };
    assert_eq!(c.reason, "game over");
    assert_eq!(r.closed(), Some("game over"));
    let out = join(&mut r, &sid("b"));
    assert_eq!(
        rpc_err(&frames_to(&out, &sid("b"))).unwrap().0,
        ErrorCode::RoomClosed
    );
}

#[test]
fn reserved_seats_are_only_for_their_session_until_they_expire() {
    let game = Game {
        max_clients: 2,
        ..Game::default()
    };
    let mut r = room(game, RoomConfig::default());
    let (a, b, c) = (sid("a"), sid("b"), sid("c"));
    r.reserve(a.clone(), 1_000);
    r.reserve(b.clone(), 1_000);
    // Someone else cannot take a reserved seat.
    let out = join(&mut r, &c);
    let (code, reason) = rpc_err(&frames_to(&out, &c)).unwrap();
    assert_eq!(code, ErrorCode::RoomFull);
    assert!(reason.contains("reserved"), "{reason}");
    // Its session can, even in a locked room.
    let out = join(&mut r, &a);
    assert!(out.iter().any(
        |o| matches!(o, Output::ReservationEnded { session, claimed: true } if session == &a)
    ));
    msg(&mut r, &a, "lock", Value::Null);
    let out = join(&mut r, &b);
    assert_eq!(types(&frames_to(&out, &b))[0], "rpc.response");
    assert_eq!(r.clients(), 2);
    assert_eq!(r.reserved(), 0);

    // Expiry frees the seat.
    let mut r = room(
        Game {
            max_clients: 1,
            ..Game::default()
        },
        RoomConfig::default(),
    );
    r.reserve(a.clone(), 500);
    assert_eq!(r.next_reservation_expiry(), Some(500));
    r.expire_reservations(499);
    assert_eq!(r.reserved(), 1);
    r.expire_reservations(500);
    let out: Vec<Output> = r.drain_output().collect();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::ReservationEnded { claimed: false, .. }))
    );
    let out = join(&mut r, &c);
    assert_eq!(types(&frames_to(&out, &c))[0], "rpc.response");
    assert_eq!(r.clients(), 1);
}
