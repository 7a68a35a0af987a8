//! The reference room types of PROTOCOL.md §11 (`counter`, `arena`,
//! `tictactoe`) end to end: a real server with the built plugins, and
//! [`Client`]s in both codecs (MessagePack by default, JSON for the second
//! player) whose replicas must match what the specification says, step by
//! step, with the exact `seq` where it is defined.

use std::time::Duration;

use arbiter_client::{Client, ClientError, Codec, ErrorCode, Event};
use arbiter_testkit::TestServer;
use serde_json::{Value, json};

/// Bound on every wait; generous for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(10);
/// Every session of these tests belongs to this project.
const PROJECT: &str = "plugins";

/// A client that negotiates JSON (the default client prefers MessagePack).
async fn json_client(server: &TestServer) -> Client {
    let config = server.client_config(PROJECT).with_codecs(vec![Codec::Json]);
    Client::connect(config).await.expect("client connects")
}

/// The session id of a client, as the state documents key it.
fn sid(client: &Client) -> String {
    client.session_id().as_str().to_owned()
}

/// The room's seq in the client's replica.
fn seq(client: &Client, room: &str) -> u64 {
    client.seq(room).expect("a replica of the room").0
}

/// Waits until the client's replica of `room` is exactly `want`.
async fn wait_state(client: &Client, room: &str, want: &Value) -> Value {
    client
        .wait_for_state(room, |s| s == want, WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "replica never became {want}: {e}; it is {:?}",
                client.state(room)
            )
        })
}

/// Waits until the client's replica of `room` is `want` at exactly `seq`.
async fn wait_state_at(client: &Client, room: &str, want: &Value, at: u64) {
    let reached = client
        .wait_for_replica(room, |r| r.state() == want && r.seq().0 == at, WAIT)
        .await;
    if let Err(e) = reached {
        panic!(
            "replica never became {want} at seq {at}: {e}; it is {:?} at {:?}",
            client.state(room),
            client.seq(room)
        );
    }
}

/// Waits for the next `room.message` `error` from the room's plugin and
/// returns its reason.
async fn plugin_error(client: &mut Client, room: &str, what: &str) -> String {
    let event = client
        .wait_for_event(
            |e| matches!(e, Event::Message { kind, .. } if kind == "error"),
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: no error message: {e}"));
    let Event::Message {
        room: r,
        data,
        from,
        ..
    } = event
    else {
        unreachable!("filtered above");
    };
    assert_eq!(r.as_str(), room, "{what}");
    assert_eq!(from, None, "{what}: the plugin sent it, no client did");
    let reason = data["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        !reason.is_empty(),
        "{what}: `error` carries a reason: {data}"
    );
    reason
}

/// Reads every event already queued; returns the plugin `error` messages.
fn queued_errors(client: &mut Client) -> Vec<Value> {
    let mut errors = Vec::new();
    while let Some(event) = client.try_next_event() {
        if let Event::Message { kind, data, .. } = event
            && kind == "error"
        {
            errors.push(data);
        }
    }
    errors
}

/// Reads events until the room's patch at `seq`; returns the seqs of every
/// patch of the room read on the way, that one included. (A replica can show
/// a patch a moment before its [`Event::Patch`] is queued, so patches are
/// counted from the events themselves.)
async fn patches_until(client: &mut Client, room: &str, seq: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    let found = client
        .wait_for_event(
            |e| match e {
                Event::Patch { room: r, seq: s } if r.as_str() == room => {
                    seen.push(s.0);
                    s.0 >= seq
                }
                _ => false,
            },
            WAIT,
        )
        .await;
    if let Err(e) = found {
        panic!("no patch {seq} of {room}: {e}; patches seen: {seen:?}");
    }
    seen
}

/// The room's summary on the server.
fn summary(server: &TestServer, room: &str) -> arbiter_runtime::RoomSummary {
    server
        .runtime
        .rooms()
        .into_iter()
        .find(|r| r.room == room)
        .unwrap_or_else(|| panic!("room {room} is alive"))
}

/// The room's seq on the server, read after a round trip through the room
/// (a `state.resync`), so that every earlier batch has been published.
async fn server_seq(server: &TestServer, client: &Client, room: &str) -> u64 {
    client.resync(room).await.expect("state.resync");
    summary(server, room).seq
}

/// A refused join's code and reason.
fn refused(result: Result<arbiter_client::Joined, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Rpc { code, reason }) => (code, reason),
        other => panic!("expected an rpc.response {{ ok: false }}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- counter

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_incs_by_one_by_default_and_by_by_with_one_patch_each() {
    let server = TestServer::start().await;
    let room = "counter-1";
    let mut a = server.client(PROJECT).await;
    let mut b = json_client(&server).await;
    let joined = a
        .join_or_create("counter", Some(room), None)
        .await
        .expect("a joins");
    assert!(joined.created);
    assert_eq!(joined.room_type, "counter");
    let joined = b
        .join_or_create("counter", Some(room), None)
        .await
        .expect("b joins");
    assert!(!joined.created);
    assert_eq!(a.state(room), Some(json!({ "counter": 0 })));
    assert_eq!(b.state(room), Some(json!({ "counter": 0 })));
    let start = seq(&a, room);
    assert_eq!(seq(&b, room), start);

    // (sender is a?, data, change): absent/null data and a missing `by` mean 1.
    let steps = [
        (true, Value::Null, 1),
        (false, json!({}), 1),
        (true, json!({ "by": 5 }), 5),
        (false, json!({ "by": -3 }), -3),
        (
            true,
            json!({ "by": 40, "note": "other keys are ignored" }),
            40,
        ),
        (false, json!({ "by": 1 }), 1),
    ];
    let mut counter = 0;
    let mut at = start;
    for (from_a, data, change) in steps {
        let sender = if from_a { &a } else { &b };
        sender
            .send_message(room, "inc", data.clone())
            .expect("sent");
        counter += change;
        at += 1;
        // Event-driven: each inc is one patch, to every member.
        let want = json!({ "counter": counter });
        wait_state_at(&a, room, &want, at).await;
        wait_state_at(&b, room, &want, at).await;
        assert_eq!(
            patches_until(&mut a, room, at).await,
            [at],
            "one patch per inc"
        );
        assert_eq!(
            patches_until(&mut b, room, at).await,
            [at],
            "one patch per inc"
        );
    }
    assert_eq!(counter, 45);
    assert!(queued_errors(&mut a).is_empty() && queued_errors(&mut b).is_empty());
    assert_eq!(server_seq(&server, &a, room).await, at);
    let s = summary(&server, room);
    assert_eq!((s.clients, s.max_clients), (2, None));
    // No client limit: room.list says null.
    let listed = a.list(Some("counter")).await.expect("room.list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].max_clients, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_refuses_a_bad_by_with_an_error_to_the_sender_only() {
    let server = TestServer::start().await;
    let room = "counter-bad";
    let mut a = server.client(PROJECT).await;
    let mut b = json_client(&server).await;
    a.join_or_create("counter", Some(room), None)
        .await
        .expect("a joins");
    b.join_or_create("counter", Some(room), None)
        .await
        .expect("b joins");
    a.send_message(room, "inc", json!({ "by": 2 }))
        .expect("sent");
    wait_state(&b, room, &json!({ "counter": 2 })).await;
    wait_state(&a, room, &json!({ "counter": 2 })).await;
    let before = seq(&a, room);
    let _ = (queued_errors(&mut a), queued_errors(&mut b));

    let bad_from_a = [
        json!({ "by": "2" }),
        json!({ "by": 1.5 }),
        json!({ "by": null }),
        json!({ "by": true }),
    ];
    let bad_from_b = [
        json!({ "by": [1] }),
        json!({ "by": { "n": 1 } }),
        json!([1]),
        json!(3),
        json!("inc"),
    ];
    for data in &bad_from_a {
        a.send_message(room, "inc", data.clone()).expect("sent");
        plugin_error(&mut a, room, &format!("a: inc {data}")).await;
    }
    for data in &bad_from_b {
        b.send_message(room, "inc", data.clone()).expect("sent");
        plugin_error(&mut b, room, &format!("b: inc {data}")).await;
    }
    // Nothing changed: the replicas are as before, and the next good incs
    // (one from each, after their bad ones) are all the room applied.
    assert_eq!(a.state(room), Some(json!({ "counter": 2 })));
    assert_eq!(seq(&a, room), before);
    a.send_message(room, "inc", json!({ "by": 10 }))
        .expect("sent");
    b.send_message(room, "inc", json!({ "by": 100 }))
        .expect("sent");
    wait_state(&a, room, &json!({ "counter": 112 })).await;
    wait_state(&b, room, &json!({ "counter": 112 })).await;
    let after = seq(&a, room);
    assert!(
        (before + 1..=before + 2).contains(&after),
        "only the two good incs made patches: seq {before} → {after}"
    );
    // The errors went to their senders only.
    assert_eq!(
        queued_errors(&mut a),
        Vec::<Value>::new(),
        "a got b's errors"
    );
    assert_eq!(
        queued_errors(&mut b),
        Vec::<Value>::new(),
        "b got a's errors"
    );
    assert_eq!(server_seq(&server, &b, room).await, after);
}

// ------------------------------------------------------------------ arena

fn origin() -> Value {
    json!({ "x": 0, "y": 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_players_join_move_and_leave_in_every_replica() {
    let server = TestServer::start().await;
    let room = "arena-1";
    let mut a = server.client(PROJECT).await;
    let mut b = json_client(&server).await;
    let (sa, sb) = (sid(&a), sid(&b));
    a.join_or_create("arena", Some(room), None)
        .await
        .expect("a joins");
    assert_eq!(a.state(room), Some(json!({ "players": { &sa: origin() } })));
    b.join_or_create("arena", Some(room), None)
        .await
        .expect("b joins");
    let both = json!({ "players": { &sa: origin(), &sb: origin() } });
    assert_eq!(
        b.state(room),
        Some(both.clone()),
        "the joiner's snapshot has both"
    );
    wait_state(&a, room, &both).await;
    let listed = b.list(Some("arena")).await.expect("room.list");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].clients, listed[0].max_clients), (2, Some(8)));

    a.send_message(room, "move", json!({ "x": 3.5, "y": -1 }))
        .expect("sent");
    let moved = json!({ "players": { &sa: { "x": 3.5, "y": -1 }, &sb: origin() } });
    wait_state(&b, room, &moved).await;
    wait_state(&a, room, &moved).await;
    b.send_message(room, "move", json!({ "x": -2, "y": 7 }))
        .expect("sent");
    let moved = json!({ "players": { &sa: { "x": 3.5, "y": -1 }, &sb: { "x": -2, "y": 7 } } });
    wait_state(&a, room, &moved).await;
    wait_state(&b, room, &moved).await;

    // A bad move changes nothing and is answered to its sender only. Once a
    // has the error, the room has handled the move; b's next move lands in
    // the same or a later tick, so a replica showing it shows any change the
    // bad move could have made.
    let _ = (queued_errors(&mut a), queued_errors(&mut b));
    for bad in [
        json!({ "x": "1", "y": 2 }),
        json!({ "x": 1 }),
        json!([1, 2]),
        Value::Null,
    ] {
        a.send_message(room, "move", bad.clone()).expect("sent");
        plugin_error(&mut a, room, &format!("move {bad}")).await;
    }
    b.send_message(room, "move", json!({ "x": 9, "y": 9 }))
        .expect("sent");
    let moved = json!({ "players": { &sa: { "x": 3.5, "y": -1 }, &sb: { "x": 9, "y": 9 } } });
    wait_state(&a, room, &moved).await;
    wait_state(&b, room, &moved).await;
    assert!(queued_errors(&mut b).is_empty(), "b got a's errors");

    // Leaving removes the player from every replica.
    a.leave(room).await.expect("a leaves");
    assert_eq!(a.state(room), None, "the leaver's replica is dropped");
    let left = json!({ "players": { &sb: { "x": 9, "y": 9 } } });
    wait_state(&b, room, &left).await;
    let diff = b
        .wait_for_event(
            |e| matches!(e, Event::PresenceDiff(d) if !d.leaves.is_empty()),
            WAIT,
        )
        .await
        .expect("b hears that a left");
    let Event::PresenceDiff(diff) = diff else {
        unreachable!()
    };
    assert!(diff.leaves.keys().any(|s| s.as_str() == sa), "{diff:?}");
    b.resync(room).await.expect("state.resync");
    assert_eq!(summary(&server, room).clients, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_seats_eight_and_refuses_the_ninth() {
    let server = TestServer::start().await;
    let room = "arena-full";
    let mut players = Vec::new();
    for i in 0..8 {
        let client = server.client(PROJECT).await;
        let joined = client
            .join_or_create("arena", Some(room), None)
            .await
            .unwrap_or_else(|e| panic!("player {i} joins: {e}"));
        assert_eq!(joined.created, i == 0);
        players.push(client);
    }
    let first = &players[0];
    first
        .wait_for_state(
            room,
            |s| s["players"].as_object().is_some_and(|p| p.len() == 8),
            WAIT,
        )
        .await
        .expect("eight players in the state");
    let ninth = server.client(PROJECT).await;
    let (code, reason) = refused(ninth.join_or_create("arena", Some(room), None).await);
    assert_eq!(code, ErrorCode::RoomFull, "{reason}");
    assert!(!reason.is_empty());
    assert_eq!(ninth.state(room), None, "a refused joiner has no replica");
    let s = summary(&server, room);
    assert_eq!((s.clients, s.max_clients), (8, Some(8)));
    // Without a room id the ninth gets an open room with a free seat: a new one.
    let elsewhere = ninth
        .join_or_create("arena", None, None)
        .await
        .expect("any open arena");
    assert!(
        elsewhere.created,
        "the only arena is full, so a new one is made"
    );
    assert_ne!(elsewhere.room.as_str(), room);
    assert_eq!(
        ninth.state(elsewhere.room.as_str()),
        Some(json!({ "players": { sid(&ninth): origin() } }))
    );
    // The full room did not change.
    let state = first.state(room).expect("replica");
    assert_eq!(state["players"].as_object().map(|p| p.len()), Some(8));
    assert!(state["players"].get(sid(&ninth)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_max_clients_comes_from_the_creating_options() {
    let server = TestServer::start().await;
    let room = "arena-small";
    let a = server.client(PROJECT).await;
    let b = json_client(&server).await;
    let c = server.client(PROJECT).await;
    a.join_or_create("arena", Some(room), Some(json!({ "max_clients": 2 })))
        .await
        .expect("a creates a room of 2");
    b.join_or_create("arena", Some(room), None)
        .await
        .expect("b joins");
    let (code, reason) = refused(c.join_or_create("arena", Some(room), None).await);
    assert_eq!(code, ErrorCode::RoomFull, "{reason}");
    assert!(!reason.is_empty());
    let listed = c.list(Some("arena")).await.expect("room.list");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].clients, listed[0].max_clients), (2, Some(2)));
    // The refused join left no trace in the state.
    let both = json!({ "players": { sid(&a): origin(), sid(&b): origin() } });
    wait_state(&a, room, &both).await;
}

// -------------------------------------------------------------- tictactoe

/// The test's model of a tictactoe room, compared with the replicas.
struct Game {
    state: Value,
    seq: u64,
}

impl Game {
    fn new(x: &str, o: &str, seq: u64) -> Game {
        Game {
            state: json!({
                "board": [null, null, null, null, null, null, null, null, null],
                "marks": { x: "X", o: "O" },
                "turn": "X",
                "winner": null,
            }),
            seq,
        }
    }

    /// Plays `cell` for the player whose turn it is; `winner` after it.
    fn play(&mut self, cell: usize, winner: Value) {
        let turn = self.state["turn"].as_str().expect("turn").to_owned();
        self.state["board"][cell] = json!(turn);
        self.state["turn"] = json!(if turn == "X" { "O" } else { "X" });
        self.state["winner"] = winner;
        self.seq += 1;
    }
}

/// Two players in a fresh tictactoe room: x (MessagePack) joined first.
async fn tictactoe(server: &TestServer, room: &str) -> (Client, Client, Game) {
    let x = server.client(PROJECT).await;
    let o = json_client(server).await;
    x.join_or_create("tictactoe", Some(room), None)
        .await
        .expect("x joins");
    o.join_or_create("tictactoe", Some(room), None)
        .await
        .expect("o joins");
    let game = Game::new(&sid(&x), &sid(&o), seq(&o, room));
    wait_state_at(&x, room, &game.state, game.seq).await;
    wait_state_at(&o, room, &game.state, game.seq).await;
    (x, o, game)
}

/// Plays a legal move and waits until both replicas show exactly the model,
/// one patch later.
async fn play(room: &str, x: &Client, o: &Client, game: &mut Game, cell: usize, winner: Value) {
    let mover = if game.state["turn"] == "X" { x } else { o };
    mover
        .send_message(room, "move", json!({ "cell": cell }))
        .expect("sent");
    game.play(cell, winner);
    wait_state_at(x, room, &game.state, game.seq).await;
    wait_state_at(o, room, &game.state, game.seq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tictactoe_full_game_to_a_win_for_x() {
    let server = TestServer::start().await;
    let room = "ttt-win";
    let (mut x, mut o, mut game) = tictactoe(&server, room).await;
    play(room, &x, &o, &mut game, 0, Value::Null).await;
    play(room, &x, &o, &mut game, 3, Value::Null).await;
    // A third joiner while the game runs: no seat.
    let third = server.client(PROJECT).await;
    let (code, reason) = refused(third.join_or_create("tictactoe", Some(room), None).await);
    assert_eq!(code, ErrorCode::RoomFull, "{reason}");
    assert!(!reason.is_empty());
    play(room, &x, &o, &mut game, 1, Value::Null).await;
    play(room, &x, &o, &mut game, 4, Value::Null).await;
    play(room, &x, &o, &mut game, 2, json!("X")).await;
    assert_eq!(
        game.state["board"],
        json!(["X", "X", "X", "O", "O", null, null, null, null])
    );

    // After the win no move is accepted, from either player.
    let _ = (queued_errors(&mut x), queued_errors(&mut o));
    o.send_message(room, "move", json!({ "cell": 5 }))
        .expect("sent");
    plugin_error(&mut o, room, "O after the game").await;
    x.send_message(room, "move", json!({ "cell": 8 }))
        .expect("sent");
    plugin_error(&mut x, room, "X after the game").await;
    // Nothing changed (a join, which flushes the room, shows the same seq).
    let late = server.client(PROJECT).await;
    let (code, reason) = refused(late.join_or_create("tictactoe", Some(room), None).await);
    assert!(
        matches!(code, ErrorCode::RoomFull | ErrorCode::RoomLocked),
        "{code}: {reason}"
    );
    assert_eq!(server_seq(&server, &o, room).await, game.seq);
    wait_state_at(&o, room, &game.state, game.seq).await;
    assert_eq!(x.state(room).as_ref(), Some(&game.state));
    assert!(queued_errors(&mut x).is_empty() && queued_errors(&mut o).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tictactoe_draw() {
    let server = TestServer::start().await;
    let room = "ttt-draw";
    let (x, mut o, mut game) = tictactoe(&server, room).await;
    // X O X / X O O / O X X: no line.
    for cell in [0, 1, 2, 4, 3, 5, 7, 6] {
        play(room, &x, &o, &mut game, cell, Value::Null).await;
    }
    play(room, &x, &o, &mut game, 8, json!("draw")).await;
    assert_eq!(
        game.state["board"],
        json!(["X", "O", "X", "X", "O", "O", "O", "X", "X"])
    );
    let _ = queued_errors(&mut o);
    o.send_message(room, "move", json!({ "cell": 0 }))
        .expect("sent");
    let reason = plugin_error(&mut o, room, "a move after a draw").await;
    assert!(!reason.is_empty());
    o.resync(room).await.expect("resync");
    wait_state_at(&o, room, &game.state, game.seq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tictactoe_illegal_moves_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let room = "ttt-illegal";
    let (mut x, mut o, mut game) = tictactoe(&server, room).await;
    let _ = (queued_errors(&mut x), queued_errors(&mut o));

    // Not your turn: O cannot open.
    o.send_message(room, "move", json!({ "cell": 4 }))
        .expect("sent");
    plugin_error(&mut o, room, "O before X").await;
    // Out of range, or not a cell at all.
    for bad in [
        json!({ "cell": 9 }),
        json!({ "cell": -1 }),
        json!({ "cell": "4" }),
        json!({ "cell": 1.5 }),
        json!({}),
        Value::Null,
    ] {
        x.send_message(room, "move", bad.clone()).expect("sent");
        plugin_error(&mut x, room, &format!("move {bad}")).await;
    }
    // Every refused move above was handled before this legal one, so the
    // legal one is exactly the next patch.
    play(room, &x, &o, &mut game, 4, Value::Null).await;

    // A taken cell, and X again out of turn.
    o.send_message(room, "move", json!({ "cell": 4 }))
        .expect("sent");
    plugin_error(&mut o, room, "O on a taken cell").await;
    x.send_message(room, "move", json!({ "cell": 0 }))
        .expect("sent");
    plugin_error(&mut x, room, "X twice").await;
    // Not a player: a session outside the room is refused by the server.
    let mut outsider = server.client(PROJECT).await;
    outsider
        .send_message(room, "move", json!({ "cell": 0 }))
        .expect("sent");
    let event = outsider
        .wait_for_event(|e| matches!(e, Event::Error { .. }), WAIT)
        .await
        .expect("the outsider is refused");
    assert!(
        matches!(
            event,
            Event::Error {
                code: ErrorCode::RoomNotMember,
                ..
            }
        ),
        "{event:?}"
    );
    play(room, &x, &o, &mut game, 0, Value::Null).await;
    assert_eq!(
        game.state["board"],
        json!(["O", null, null, null, "X", null, null, null, null])
    );
    // Each error went to the one who sent the move.
    assert!(queued_errors(&mut x).is_empty(), "x got o's errors");
    assert!(queued_errors(&mut o).is_empty(), "o got x's errors");
    assert_eq!(server_seq(&server, &x, room).await, game.seq);
}
