//! Matchmaking end to end (PROTOCOL.md §7): enqueue → match.found → join the
//! reserved seat; reservation rules; dequeue; pause across a resume; many
//! tickets at once.

use std::time::Duration;

use arbiter_client::{Client, Event};
use arbiter_protocol::{ErrorCode, MatchFound};
use arbiter_testkit::TestServer;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

async fn found(c: &mut Client) -> MatchFound {
    match c
        .wait_for_event(|e| matches!(e, Event::MatchFound(_)), T)
        .await
        .unwrap()
    {
        Event::MatchFound(m) => m,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_are_matched_into_a_room_with_their_seats() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    let mut b = server.client("demo").await;
    let ta = a
        .enqueue("tictactoe", 2, Some(json!({ "mode": "ranked" })))
        .await
        .unwrap();
    let tb = b
        .enqueue("tictactoe", 2, Some(json!({ "mode": "ranked" })))
        .await
        .unwrap();
    let fa = found(&mut a).await;
    let fb = found(&mut b).await;
    assert_eq!(fa.room, fb.room);
    assert_eq!((fa.room_type.as_str(), fa.size), ("tictactoe", 2));
    assert_eq!(fa.ticket, ta, "each participant gets its own ticket");
    assert_eq!(fb.ticket, tb);
    assert_eq!(fa.participants.len(), 2);

    // An outsider cannot take a reserved seat.
    let c = server.client("demo").await;
    let err = c
        .join_or_create("tictactoe", Some(fa.room.as_str()), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RoomFull));
    // The participants can.
    a.join_or_create("tictactoe", Some(fa.room.as_str()), None)
        .await
        .unwrap();
    b.join_or_create("tictactoe", Some(fb.room.as_str()), None)
        .await
        .unwrap();
    let state = a
        .wait_for_state(
            fa.room.as_str(),
            |s| s["marks"].as_object().is_some_and(|m| m.len() == 2),
            T,
        )
        .await
        .unwrap();
    assert_eq!(state["turn"], "X");
    // Nobody is left in the queue.
    assert_eq!(a.dequeue(None).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_errors_dequeue_and_properties() {
    let server = TestServer::start().await;
    let a = server.client("demo").await;
    for (room_type, size) in [("tictactoe", 3), ("tictactoe", 0), ("nope", 2)] {
        let err = a.enqueue(room_type, size, None).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(ErrorCode::MatchmakingInvalid),
            "{room_type} {size}"
        );
    }
    a.enqueue("arena", 2, Some(json!({ "region": "eu" })))
        .await
        .unwrap();
    let err = a.enqueue("arena", 2, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MatchmakingAlreadyQueued));
    // A different region never matches.
    let mut b = server.client("demo").await;
    b.enqueue("arena", 2, Some(json!({ "region": "us" })))
        .await
        .unwrap();
    assert_eq!(a.dequeue(Some("arena")).await.unwrap(), 1);
    assert_eq!(a.dequeue(Some("arena")).await.unwrap(), 0);
    assert_eq!(b.dequeue(None).await.unwrap(), 1);
    assert!(
        b.try_next_event()
            .is_none_or(|e| !matches!(e, Event::MatchFound(_)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclaimed_seats_free_up_after_the_reservation_ttl() {
    let server = TestServer::start_with(|c| c.reservation_ttl = Duration::from_millis(200)).await;
    let mut a = server.client("demo").await;
    let b = server.client("demo").await;
    a.enqueue("tictactoe", 2, None).await.unwrap();
    b.enqueue("tictactoe", 2, None).await.unwrap();
    let m = found(&mut a).await;
    a.join_or_create("tictactoe", Some(m.room.as_str()), None)
        .await
        .unwrap();
    // b never comes: after the TTL its seat is free for anyone.
    let c = server.client("demo").await;
    let mut joined = false;
    for _ in 0..100 {
        match c
            .join_or_create("tictactoe", Some(m.room.as_str()), None)
            .await
        {
            Ok(_) => {
                joined = true;
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::RoomFull));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(joined, "the expired reservation freed the seat");
    assert!(
        server
            .metrics_text()
            .contains("arbiter_reservations_expired_total{room_type=\"tictactoe\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_pause_while_suspended_and_go_when_the_session_ends() {
    let server =
        TestServer::start_with(|c| c.session.session_ttl = Duration::from_millis(300)).await;
    let mut a = server.client("demo").await;
    a.enqueue("tictactoe", 2, None).await.unwrap();
    a.drop_transport().await.unwrap();
    a.wait_for_event(|e| matches!(e, Event::Resumed), T)
        .await
        .unwrap();
    // Still queued after the resume: a partner makes a match.
    let b = server.client("demo").await;
    b.enqueue("tictactoe", 2, None).await.unwrap();
    found(&mut a).await;

    // A session that ends loses its tickets.
    let c = arbiter_client::Client::connect(server.client_config("demo").with_auto_resume(false))
        .await
        .unwrap();
    c.enqueue("arena", 2, None).await.unwrap();
    c.drop_transport().await.unwrap();
    // Wait past the TTL through the server's own accounting.
    let mut gone = false;
    for _ in 0..100 {
        if server
            .metrics_text()
            .contains("arbiter_matchmaking_queue_size{room_type=\"arena\"} 0")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the expired session's ticket left the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tickets_at_once_make_the_right_number_of_matches() {
    let server = TestServer::start().await;
    // 1,000 sessions, each queued for tictactoe (size 2) in one of two modes.
    let mut clients = Vec::new();
    for _ in 0..10 {
        let batch = (0..100).map(|_| server.client("demo"));
        clients.extend(futures_util::future::join_all(batch).await);
    }
    let enqueues = clients.iter().enumerate().map(|(i, c)| {
        let mode = if i % 2 == 0 { "a" } else { "b" };
        c.enqueue("tictactoe", 2, Some(json!({ "mode": mode })))
    });
    for r in futures_util::future::join_all(enqueues).await {
        r.unwrap();
    }
    let mut rooms = std::collections::HashMap::new();
    for c in &mut clients {
        let m = found(c).await;
        assert_eq!(m.participants.len(), 2);
        assert!(m.participants.contains(&c.session_id()));
        *rooms.entry(m.room).or_insert(0) += 1;
    }
    // 500 per mode: 250 matches each, every session in exactly one.
    assert_eq!(rooms.len(), 500);
    assert!(rooms.values().all(|n| *n == 2));
    assert!(
        server
            .metrics_text()
            .contains("arbiter_matchmaking_matches_total{room_type=\"tictactoe\"} 500")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_freed_in_a_matched_arena_is_backfilled() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    let mut b = server.client("demo").await;
    a.enqueue("arena", 2, None).await.unwrap();
    b.enqueue("arena", 2, None).await.unwrap();
    let m = found(&mut a).await;
    found(&mut b).await;
    a.join_or_create("arena", Some(m.room.as_str()), None)
        .await
        .unwrap();
    b.join_or_create("arena", Some(m.room.as_str()), None)
        .await
        .unwrap();
    // C queues for the same kind of match; B leaves: its seat goes to C.
    let mut c = server.client("demo").await;
    c.enqueue("arena", 2, None).await.unwrap();
    b.leave(m.room.as_str()).await.unwrap();
    let fc = found(&mut c).await;
    assert_eq!(
        fc.room, m.room,
        "the freed seat is offered to the queued player"
    );
    assert!(fc.participants.contains(&a.session_id()));
    c.join_or_create("arena", Some(fc.room.as_str()), None)
        .await
        .unwrap();
    a.wait_for_state(
        m.room.as_str(),
        |s| s["players"].get(c.session_id().as_str()).is_some(),
        T,
    )
    .await
    .unwrap();
}
