//! Rooms end to end (PROTOCOL.md §5, §6): join/leave/list, patches and
//! snapshots, presence, messages both ways, resync and acks, project isolation
//! and concurrent creation, through the Rust client against a real server.

use std::time::Duration;

use arbiter_client::{ClientError, Event};
use arbiter_protocol::{ClientFrame, Codec, ErrorCode, RoomId, Seq, StateAck};
use arbiter_testkit::TestServer;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

fn code(err: ClientError) -> Option<ErrorCode> {
    err.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_leave_list_and_room_types() {
    let server = TestServer::start().await;
    let a = server.client("demo").await;
    let joined = a
        .join_or_create("arena", Some("arena-1"), None)
        .await
        .unwrap();
    assert!(joined.created);
    assert_eq!(joined.room.as_str(), "arena-1");
    let state = a
        .wait_for_state("arena-1", |s| s["players"].is_object(), T)
        .await
        .unwrap();
    assert_eq!(
        state["players"][a.session_id().as_str()],
        json!({ "x": 0, "y": 0 })
    );

    // Without an id: joins the open arena room rather than making a new one.
    let b = server.client("demo").await;
    let joined = b.join_or_create("arena", None, None).await.unwrap();
    assert_eq!((joined.room.as_str(), joined.created), ("arena-1", false));
    a.wait_for_state(
        "arena-1",
        |s| s["players"].as_object().is_some_and(|p| p.len() == 2),
        T,
    )
    .await
    .unwrap();

    let list = a.list(Some("arena")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].clients, list[0].max_clients, list[0].locked),
        (2, Some(8), false)
    );
    assert!(a.list(Some("counter")).await.unwrap().is_empty());
    b.join_or_create("counter", None, None).await.unwrap();
    let all = a.list(None).await.unwrap();
    assert_eq!(all.len(), 2);
    let counter = all.iter().find(|r| r.room_type == "counter").unwrap();
    assert_eq!(counter.max_clients, None, "counter has no client limit");

    b.leave("arena-1").await.unwrap();
    a.wait_for_state(
        "arena-1",
        |s| s["players"].as_object().is_some_and(|p| p.len() == 1),
        T,
    )
    .await
    .unwrap();
    let err = b.leave("arena-1").await.unwrap_err();
    assert_eq!(code(err), Some(ErrorCode::RoomNotMember));

    let err = a.join_or_create("nope", None, None).await.unwrap_err();
    assert_eq!(code(err), Some(ErrorCode::RoomUnknownType));
    // An id taken by a room of another type.
    let err = a
        .join_or_create("counter", Some("arena-1"), None)
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(ErrorCode::RoomNotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_join_or_create_of_a_new_id_makes_one_room() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(server.client("demo").await);
    }
    let joins = clients
        .iter()
        .map(|c| c.join_or_create("counter", Some("same-id"), None));
    let results = futures_util::future::join_all(joins).await;
    let created = results
        .into_iter()
        .map(|r| r.unwrap().created)
        .filter(|c| *c)
        .count();
    assert_eq!(created, 1, "exactly one join created the room");
    let rooms = server.runtime.rooms();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].clients, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_cannot_see_each_other() {
    let server = TestServer::start().await;
    let a = server.client("alpha").await;
    let b = server.client("beta").await;
    a.join_or_create("counter", Some("shared-name"), None)
        .await
        .unwrap();
    assert!(b.list(None).await.unwrap().is_empty());
    // The same id in another project is another room.
    let joined = b
        .join_or_create("counter", Some("shared-name"), None)
        .await
        .unwrap();
    assert!(joined.created);
    a.send_message("shared-name", "inc", json!({ "by": 3 }))
        .unwrap();
    a.wait_for_state("shared-name", |s| s["counter"] == 3, T)
        .await
        .unwrap();
    b.send_message("shared-name", "inc", json!({ "by": 1 }))
        .unwrap();
    b.wait_for_state("shared-name", |s| s["counter"] == 1, T)
        .await
        .unwrap();
    assert_eq!(a.state("shared-name").unwrap()["counter"], 3);
    assert_eq!(server.runtime.rooms().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_state_and_diffs() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    let mut b = server.client("demo").await;
    a.join_or_create("counter", Some("p"), None).await.unwrap();
    let ev = a
        .wait_for_event(|e| matches!(e, Event::PresenceState(_)), T)
        .await
        .unwrap();
    let Event::PresenceState(p) = ev else {
        unreachable!()
    };
    assert_eq!(p.members.len(), 1);

    b.join_or_create("counter", Some("p"), None).await.unwrap();
    let ev = b
        .wait_for_event(|e| matches!(e, Event::PresenceState(_)), T)
        .await
        .unwrap();
    let Event::PresenceState(p) = ev else {
        unreachable!()
    };
    assert_eq!(p.members.len(), 2);
    let ev = a
        .wait_for_event(|e| matches!(e, Event::PresenceDiff(_)), T)
        .await
        .unwrap();
    let Event::PresenceDiff(d) = ev else {
        unreachable!()
    };
    assert!(d.joins.contains_key(&b.session_id()));

    b.presence_set("p", json!({ "name": "bee", "ready": true }))
        .await
        .unwrap();
    let ev = a
        .wait_for_event(|e| matches!(e, Event::PresenceDiff(_)), T)
        .await
        .unwrap();
    let Event::PresenceDiff(d) = ev else {
        unreachable!()
    };
    assert_eq!(
        d.joins[&b.session_id()].state,
        json!({ "name": "bee", "ready": true })
    );

    b.leave("p").await.unwrap();
    let ev = a
        .wait_for_event(|e| matches!(e, Event::PresenceDiff(_)), T)
        .await
        .unwrap();
    let Event::PresenceDiff(d) = ev else {
        unreachable!()
    };
    assert!(d.leaves.contains_key(&b.session_id()));

    let err = b.presence_set("p", json!({})).await.unwrap_err();
    assert_eq!(code(err), Some(ErrorCode::RoomNotMember));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_snapshots_resync_and_ack_mismatch() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    a.join_or_create("counter", Some("c"), None).await.unwrap();
    for _ in 0..5 {
        a.send_message("c", "inc", json!({})).unwrap();
    }
    a.wait_for_state("c", |s| s["counter"] == 5, T)
        .await
        .unwrap();
    let seq = a.seq("c").unwrap();

    // Resync: a fresh snapshot at the current seq.
    a.resync("c").await.unwrap();
    let ev = a
        .wait_for_event(|e| matches!(e, Event::Snapshot { .. }), T)
        .await
        .unwrap();
    // The first snapshot event may be the join's; wait for the resync's.
    let ev = match ev {
        Event::Snapshot { seq: s, .. } if s == seq => ev,
        _ => a
            .wait_for_event(
                |e| matches!(e, Event::Snapshot { seq: s, .. } if *s == seq),
                T,
            )
            .await
            .unwrap(),
    };
    assert!(matches!(ev, Event::Snapshot { .. }));

    // An ack with a wrong checksum earns a snapshot.
    let wrong = a.with_replica("c", |r| r.checksum()).unwrap();
    let ack = ClientFrame::new(StateAck {
        room: RoomId::new("c").unwrap(),
        seq,
        checksum: Some(arbiter_protocol::Checksum(wrong.0 ^ 0xff)),
    });
    a.send(&ack).unwrap();
    a.wait_for_event(
        |e| matches!(e, Event::Snapshot { seq: s, .. } if *s == seq),
        T,
    )
    .await
    .unwrap();
    assert_eq!(a.state("c").unwrap()["counter"], 5);
    assert!(seq > Seq(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_both_ways_in_both_codecs() {
    let server = TestServer::start().await;
    let mut json_client = arbiter_client::Client::connect(
        server.client_config("demo").with_codecs(vec![Codec::Json]),
    )
    .await
    .unwrap();
    let msgpack = arbiter_client::Client::connect(
        server
            .client_config("demo")
            .with_codecs(vec![Codec::MsgPack]),
    )
    .await
    .unwrap();
    assert_eq!(json_client.codec(), Codec::Json);
    assert_eq!(msgpack.codec(), Codec::MsgPack);
    json_client
        .join_or_create("counter", Some("m"), None)
        .await
        .unwrap();
    msgpack
        .join_or_create("counter", Some("m"), None)
        .await
        .unwrap();
    // A bad `by` answers the sender with a room.message `error`.
    json_client
        .send_message("m", "inc", json!({ "by": "x" }))
        .unwrap();
    let ev = json_client
        .wait_for_event(
            |e| matches!(e, Event::Message { kind, .. } if kind == "error"),
            T,
        )
        .await
        .unwrap();
    let Event::Message { data, .. } = ev else {
        unreachable!()
    };
    assert!(data["reason"].is_string());
    // Both replicas agree after increments from both codecs.
    json_client
        .send_message("m", "inc", json!({ "by": 2 }))
        .unwrap();
    msgpack
        .send_message("m", "inc", json!({ "by": 40 }))
        .unwrap();
    for c in [&json_client, &msgpack] {
        c.wait_for_state("m", |s| s["counter"] == 42, T)
            .await
            .unwrap();
    }
    // Bytes reach the plugin (counter ignores them) without error.
    msgpack.send_bytes("m", "blob", vec![0, 1, 2, 255]).unwrap();
    msgpack.send_message("m", "inc", json!({})).unwrap();
    json_client
        .wait_for_state("m", |s| s["counter"] == 43, T)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_admin_listing_reflect_activity() {
    let server = TestServer::start().await;
    let a = server.client("demo").await;
    a.join_or_create("counter", Some("metrics-room"), None)
        .await
        .unwrap();
    a.send_message("metrics-room", "inc", json!({})).unwrap();
    a.wait_for_state("metrics-room", |s| s["counter"] == 1, T)
        .await
        .unwrap();
    let text = server.metrics_text();
    for needle in [
        "arbiter_connections{transport=\"ws\"} 1",
        "arbiter_rooms{room_type=\"counter\"} 1",
        "arbiter_frames_in_total{type=\"room.message\"} 1",
        "arbiter_frames_out_total{type=\"state.patch\"}",
        "arbiter_plugin_hook_duration_seconds_count{hook=\"message\",room_type=\"counter\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    let rooms = server.runtime.rooms();
    assert_eq!(rooms[0].room, "metrics-room");
    assert_eq!(rooms[0].project, "demo");
    assert_eq!(rooms[0].clients, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_rooms_are_disposed_after_the_grace_period() {
    let server = TestServer::start_with(|c| c.empty_room_grace = Duration::from_millis(100)).await;
    let a = server.client("demo").await;
    a.join_or_create("counter", Some("brief"), None)
        .await
        .unwrap();
    a.send_message("brief", "inc", json!({})).unwrap();
    a.wait_for_state("brief", |s| s["counter"] == 1, T)
        .await
        .unwrap();
    a.leave("brief").await.unwrap();
    // Bounded wait for the room to go (the grace period is 100 ms).
    let mut gone = false;
    for _ in 0..200 {
        if server.runtime.rooms().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "the empty room was disposed");
    assert!(
        server
            .metrics_text()
            .contains("arbiter_rooms_closed_total{reason=\"empty\",room_type=\"counter\"} 1")
    );
    // The same id makes a fresh room.
    let joined = a
        .join_or_create("counter", Some("brief"), None)
        .await
        .unwrap();
    assert!(joined.created);
    assert_eq!(a.state("brief").unwrap()["counter"], 0);
}
