use super::*;
use arbiter_protocol::{
    Checksum, ErrorPayload, Joined, LeaveRoom, ListRooms, RoomClosed, Seq, ServerRoomMessage,
};
use arbiter_state::PatchOp;
use serde_json::{Value, json};

type TestCore = Core<u32>;

fn room() -> RoomId {
    RoomId::new("r1").expect("valid id")
}

fn sum(v: &Value) -> Checksum {
    Checksum(arbiter_state::checksum(v).as_u64())
}

fn snapshot(state: Value, seq: u64) -> ServerFrame {
    ServerFrame::new(StateSnapshot {
        checksum: sum(&state),
        state,
        seq: Seq(seq),
    })
    .in_room(room())
}

/// A patch setting `/n` to `n`, with the checksum of `{"n": n}`.
fn patch(seq: u64, n: i64) -> ServerFrame {
    ServerFrame::new(StatePatch {
        seq: Seq(seq),
        ops: vec![PatchOp::set("/n", json!(n))],
        checksum: Some(sum(&json!({ "n": n }))),
    })
    .in_room(room())
}

fn response(rid: &Rid, response: RpcResponse) -> ServerFrame {
    ServerFrame::new(response).with_rid(Some(rid.clone()))
}

fn feed(core: &mut TestCore, frame: ServerFrame) -> Vec<Output<u32>> {
    let mut out = Vec::new();
    core.on_frame(frame, &mut out);
    out
}

fn sent(out: &[Output<u32>]) -> Vec<&ClientFrame> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output<u32>]) -> Vec<&Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn replies(out: Vec<Output<u32>>) -> Vec<(u32, RpcResult)> {
    out.into_iter()
        .filter_map(|o| match o {
            Output::Reply(r, res) => Some((r, res)),
            _ => None,
        })
        .collect()
}

fn joined_core() -> TestCore {
    let mut core = TestCore::new(1, true);
    feed(&mut core, snapshot(json!({ "n": 0 }), 5));
    core
}

#[test]
fn answers_are_routed_by_rid() {
    let mut core = TestCore::new(1, true);
    let mut a = ClientFrame::new(ListRooms::default());
    let mut b = ClientFrame::new(ListRooms::default());
    let rid_a = core.register(&mut a, 1).expect("open");
    let rid_b = core.register(&mut b, 2).expect("open");
    assert_eq!(rid_a, Rid::Str("c-1".into()));
    assert_eq!(a.rid.as_ref(), Some(&rid_a));
    assert_eq!(rid_b, Rid::Str("c-2".into()));

    let out = feed(
        &mut core,
        response(&rid_b, RpcResponse::Ok(RpcOk::Rooms(vec![]))),
    );
    let got = replies(out);
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0], (2, Ok(RpcOk::Rooms(r))) if r.is_empty()));

    let refused = RpcResponse::Err {
        code: ErrorCode::RoomFull,
        reason: "full".into(),
    };
    let got = replies(feed(&mut core, response(&rid_a, refused)));
    assert!(matches!(
        &got[0],
        (
            1,
            Err(ClientError::Rpc {
                code: ErrorCode::RoomFull,
                ..
            })
        )
    ));
    assert_eq!(core.pending_len(), 0);

    // A second answer, or an answer to an unknown rid, is dropped.
    let out = feed(&mut core, response(&rid_a, RpcResponse::Ok(RpcOk::Done)));
    assert!(out.is_empty());
}

#[test]
fn an_error_frame_answers_its_request_or_becomes_an_event() {
    let mut core = TestCore::new(1, true);
    let mut f = ClientFrame::new(ListRooms::default());
    let rid = core.register(&mut f, 7).expect("open");
    let limited = ErrorPayload {
        code: ErrorCode::RateLimited,
        reason: "slow down".into(),
    };
    let frame = ServerFrame::new(limited.clone()).with_rid(Some(rid.clone()));
    let got = replies(feed(&mut core, frame.clone()));
    assert!(matches!(
        &got[0],
        (
            7,
            Err(ClientError::Rpc {
                code: ErrorCode::RateLimited,
                ..
            })
        )
    ));
    // Same frame again: nobody waits, so the user sees it.
    let out = feed(&mut core, frame);
    assert_eq!(
        events(&out),
        [&Event::Error {
            code: ErrorCode::RateLimited,
            reason: "slow down".into(),
            rid: Some(rid),
        }]
    );
}

#[test]
fn a_response_without_rid_is_an_invalid_frame() {
    let mut core = TestCore::new(1, true);
    let out = feed(&mut core, ServerFrame::new(RpcResponse::Ok(RpcOk::Done)));
    assert!(matches!(events(&out)[..], [Event::InvalidFrame { .. }]));
}

#[test]
fn snapshots_and_patches_update_the_replica_and_are_acked() {
    let mut core = TestCore::new(1, true);
    let out = feed(&mut core, snapshot(json!({ "n": 0 }), 5));
    let acks = sent(&out);
    assert_eq!(acks.len(), 1);
    assert!(matches!(
        &acks[0].msg,
        ClientMessage::StateAck(StateAck {
            seq: Seq(5),
            checksum: Some(_),
            ..
        })
    ));
    assert_eq!(
        events(&out),
        [&Event::Snapshot {
            room: room(),
            seq: Seq(5)
        }]
    );
    let v0 = core.version();

    let out = feed(&mut core, patch(6, 1));
    let ClientMessage::StateAck(a) = &sent(&out)[0].msg else {
        panic!("expected an ack, got {out:?}");
    };
    assert_eq!((a.seq, a.checksum), (Seq(6), Some(sum(&json!({ "n": 1 })))));
    assert_eq!(
        events(&out),
        [&Event::Patch {
            room: room(),
            seq: Seq(6)
        }]
    );
    assert!(core.version() > v0);
    assert_eq!(
        core.replica("r1").map(Replica::state),
        Some(&json!({ "n": 1 }))
    );

    // A duplicate changes nothing, sends nothing, reports nothing.
    let v1 = core.version();
    assert!(feed(&mut core, patch(6, 1)).is_empty());
    assert_eq!(core.version(), v1);
}

#[test]
fn acks_follow_ack_every_and_state_events_can_be_off() {
    let mut core = TestCore::new(2, false);
    let out = feed(&mut core, snapshot(json!({ "n": 0 }), 0));
    assert_eq!((sent(&out).len(), events(&out).len()), (1, 0));
    let acked: Vec<usize> = (1..=5)
        .map(|seq| sent(&feed(&mut core, patch(seq, seq as i64))).len())
        .collect();
    assert_eq!(acked, [0, 1, 0, 1, 0]);

    let mut never = TestCore::new(0, true);
    assert!(sent(&feed(&mut never, snapshot(json!({}), 0))).is_empty());
}

#[test]
fn a_gap_asks_for_one_resync_until_the_snapshot_arrives() {
    let mut core = joined_core();
    let out = feed(&mut core, patch(8, 3));
    let frames = sent(&out);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].rid.is_some());
    assert!(matches!(
        &frames[0].msg,
        ClientMessage::StateResync(StateResync { reason: Some(r), .. }) if r == "gap"
    ));
    assert!(matches!(events(&out)[..], [Event::ResyncRequested { .. }]));
    let resync_rid = frames[0].rid.clone().expect("rid");

    // More gapped patches while the snapshot is on its way: no second request.
    assert!(sent(&feed(&mut core, patch(9, 4))).is_empty());

    feed(&mut core, snapshot(json!({ "n": 4 }), 9));
    assert_eq!(core.replica("r1").map(Replica::seq), Some(Seq(9)));
    // The internal request's answer is consumed silently.
    assert!(
        feed(
            &mut core,
            response(&resync_rid, RpcResponse::Ok(RpcOk::Done))
        )
        .is_empty()
    );
    assert_eq!(sent(&feed(&mut core, patch(10, 5))).len(), 1);
}

#[test]
fn a_checksum_mismatch_asks_for_a_resync_and_keeps_the_state() {
    let mut core = joined_core();
    let mut bad = patch(6, 1);
    if let ServerMessage::StatePatch(p) = &mut bad.msg {
        p.checksum = Some(Checksum(12345));
    }
    let out = feed(&mut core, bad);
    assert!(matches!(
        &sent(&out)[0].msg,
        ClientMessage::StateResync(StateResync { reason: Some(r), .. }) if r == "checksum"
    ));
    assert_eq!(
        core.replica("r1").map(Replica::state),
        Some(&json!({ "n": 0 }))
    );
}

#[test]
fn repeated_failures_stop_automatic_resyncs() {
    let mut core = joined_core();
    let mut asked = 0;
    let mut gave_up = 0;
    for round in 0..(MAX_AUTO_RESYNCS + 3) {
        // A snapshot whose checksum is wrong, answered each time.
        let mut bad = snapshot(json!({ "n": 1 }), 10 + u64::from(round));
        if let ServerMessage::StateSnapshot(s) = &mut bad.msg {
            s.checksum = Checksum(1);
        }
        let out = feed(&mut core, bad);
        asked += sent(&out).len();
        gave_up += events(&out)
            .iter()
            .filter(|e| matches!(e, Event::ReplicaFailed { .. }))
            .count();
    }
    assert_eq!(asked, MAX_AUTO_RESYNCS as usize);
    assert_eq!(gave_up, 1);
    // An explicit resync gives the room another chance.
    let mut f = ClientFrame::new(StateResync {
        room: room(),
        reason: None,
    });
    core.register(&mut f, 1).expect("open");
    feed(&mut core, snapshot(json!({ "n": 2 }), 20));
    assert_eq!(core.replica("r1").map(Replica::seq), Some(Seq(20)));
    assert_eq!(sent(&feed(&mut core, patch(22, 0))).len(), 1);
}

#[test]
fn leave_and_room_closed_forget_the_replica() {
    let mut core = joined_core();
    let mut leave = ClientFrame::new(LeaveRoom { room: room() });
    let rid = core.register(&mut leave, 3).expect("open");
    assert!(core.replica("r1").is_some());
    let got = replies(feed(
        &mut core,
        response(&rid, RpcResponse::Ok(RpcOk::Done)),
    ));
    assert!(matches!(got[..], [(3, Ok(RpcOk::Done))]));
    assert!(core.replica("r1").is_none());
    // A late patch for the left room is ignored.
    assert!(feed(&mut core, patch(6, 1)).is_empty());

    let mut core = joined_core();
    let closed = RoomClosed {
        room: room(),
        reason: "done".into(),
    };
    let out = feed(&mut core, ServerFrame::new(closed));
    assert!(matches!(events(&out)[..], [Event::RoomClosed { .. }]));
    assert!(core.replica("r1").is_none());
}

#[test]
fn a_refused_resync_for_a_room_we_left_drops_the_replica() {
    let mut core = joined_core();
    let out = feed(&mut core, patch(9, 1));
    let rid = sent(&out)[0].rid.clone().expect("rid");
    let refused = RpcResponse::Err {
        code: ErrorCode::RoomNotMember,
        reason: "not a member".into(),
    };
    assert!(feed(&mut core, response(&rid, refused)).is_empty());
    assert!(core.replica("r1").is_none());
}

#[test]
fn transport_loss_fails_sent_requests_and_keeps_unsent_ones() {
    let mut core = joined_core();
    let mut a = ClientFrame::new(ListRooms::default());
    let mut b = ClientFrame::new(ListRooms::default());
    let rid_a = core.register(&mut a, 1).expect("open");
    let rid_b = core.register(&mut b, 2).expect("open");
    core.mark_sent(&rid_a);
    feed(&mut core, patch(9, 1)); // a gap: an internal resync is in flight
    let mut out = Vec::new();
    core.on_transport_lost(&mut out);
    let got = replies(out);
    assert!(matches!(got[..], [(1, Err(ClientError::ConnectionLost))]));
    assert_eq!(core.pending_len(), 1);
    // The resync was forgotten, so the next gap asks again.
    assert_eq!(sent(&feed(&mut core, patch(9, 1))).len(), 1);
    // The unsent request is answered after the reconnect.
    let joined = RpcOk::Joined(Joined {
        room: room(),
        room_type: "counter".into(),
        created: false,
    });
    let got = replies(feed(&mut core, response(&rid_b, RpcResponse::Ok(joined))));
    assert!(matches!(got[..], [(2, Ok(RpcOk::Joined(_)))]));
    assert!(core.replica("r1").is_some());

    core.on_session_lost();
    assert!(core.replica("r1").is_none());
}

#[test]
fn close_fails_every_request_and_refuses_new_ones() {
    let mut core = TestCore::new(1, true);
    let mut a = ClientFrame::new(ListRooms::default());
    core.register(&mut a, 1).expect("open");
    let mut out = Vec::new();
    core.close(&mut out);
    assert!(matches!(replies(out)[..], [(1, Err(ClientError::Closed))]));
    assert!(core.is_closed());
    let mut b = ClientFrame::new(ListRooms::default());
    assert!(matches!(core.register(&mut b, 2), Err(ClientError::Closed)));
}

#[test]
fn room_messages_become_events() {
    let mut core = TestCore::new(1, true);
    let msg = ServerRoomMessage {
        kind: "error".into(),
        data: json!({ "reason": "bad" }),
        from: None,
    };
    let out = feed(&mut core, ServerFrame::new(msg.clone()).in_room(room()));
    assert_eq!(
        events(&out),
        [&Event::Message {
            room: room(),
            kind: "error".into(),
            data: json!({ "reason": "bad" }),
            from: None,
        }]
    );
    let out = feed(&mut core, ServerFrame::new(msg));
    assert!(matches!(events(&out)[..], [Event::InvalidFrame { .. }]));
}
