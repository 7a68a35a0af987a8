//! QUIC end to end (PROTOCOL.md §1, §8; issue 6): QUIC-only sessions, attach,
//! datagram size and loss, floods and bad framing, through the Rust client
//! (and a bare QUIC connection for hostile input) against a real server on
//! loopback.

use std::time::Duration;

use arbiter_client::{Client, ClientError, Codec, Event, QuicTarget, QuicTrust, RawQuic};
use arbiter_gateway::{CLOSE_PROTOCOL, CLOSE_REFUSED};
use arbiter_protocol::{ErrorCode, Handshake, ServerMessage};
use arbiter_testkit::TestServer;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);
/// How long one try waits for a datagram's effect before sending it again
/// (a datagram may be lost, even on loopback): a retry bound, not an assertion.
const RETRY: Duration = Duration::from_secs(2);

fn player(state: &Value, who: &Client) -> Value {
    state["players"][who.session_id().as_str()].clone()
}

/// Sends `move {x, y}` from `mover` until `observer` sees it (at most 5
/// tries), and returns the observer's state.
async fn move_until_seen(mover: &Client, observer: &Client, room: &str, x: i64, y: i64) -> Value {
    let want = json!({ "x": x, "y": y });
    for _ in 0..5 {
        mover
            .send_message(room, "move", json!({ "x": x, "y": y }))
            .unwrap();
        match observer
            .wait_for_state(room, |s| player(s, mover) == want, RETRY)
            .await
        {
            Ok(state) => return state,
            Err(ClientError::Timeout) => continue,
            Err(e) => panic!("observer failed: {e}"),
        }
    }
    panic!("move ({x}, {y}) never reached the observer");
}

fn quic_target(server: &TestServer) -> QuicTarget {
    let (addr, info) = server.quic.clone().expect("QUIC server");
    QuicTarget::new(addr.to_string(), QuicTrust::Sha256(info.cert_sha256))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_only_session_moves_by_datagram_and_ws_clients_see_it() {
    let server = TestServer::start_quic().await;
    let q = server.quic_client("demo").await;
    let info = q.quic_info().expect("handshake.ok announces QUIC");
    assert_eq!(
        Some(info.clone()),
        server.quic.as_ref().map(|(_, i)| i.clone())
    );
    assert_eq!(info.cert_sha256.len(), 64);

    let joined = q
        .join_or_create("arena", Some("arena-q"), None)
        .await
        .unwrap();
    assert!(joined.created);
    let w = server.client("demo").await;
    w.join_or_create("arena", Some("arena-q"), None)
        .await
        .unwrap();

    let state = move_until_seen(&q, &w, "arena-q", 5, 7).await;
    assert_eq!(player(&state, &w), json!({ "x": 0, "y": 0 }));
    let stats = q.datagram_stats();
    assert!(stats.sent >= 1, "moves went as datagrams: {stats:?}");
    assert_eq!(stats.over_stream, 0, "{stats:?}");
    // The QUIC client's own replica follows the patches on its stream.
    q.wait_for_state("arena-q", |s| player(s, &q) == json!({ "x": 5, "y": 7 }), T)
        .await
        .unwrap();
    // Reliable requests work on the stream; the metrics count a QUIC connection.
    assert_eq!(q.list(Some("arena")).await.unwrap().len(), 1);
    assert!(
        server
            .metrics_text()
            .contains("arbiter_connections{transport=\"quic\"} 1"),
        "{}",
        server.metrics_text()
    );
    q.close().await.unwrap();
    w.wait_for_state(
        "arena-q",
        |s| s["players"].as_object().is_some_and(|p| p.len() == 1),
        T,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_msgpack_quic_session_resumes_after_a_drop() {
    let server = TestServer::start_quic().await;
    let config = server
        .quic_client_config("demo")
        .with_codecs(vec![Codec::MsgPack]);
    let mut q = Client::connect(config).await.unwrap();
    assert_eq!(q.codec(), Codec::MsgPack);
    q.join_or_create("arena", Some("arena-r"), None)
        .await
        .unwrap();
    let w = server.client("demo").await;
    w.join_or_create("arena", Some("arena-r"), None)
        .await
        .unwrap();
    move_until_seen(&q, &w, "arena-r", 1, 1).await;

    q.drop_transport().await.unwrap();
    q.wait_for_event(|e| matches!(e, Event::Resumed), T)
        .await
        .unwrap();
    move_until_seen(&q, &w, "arena-r", 2, 3).await;
    assert_eq!(q.rooms().len(), 1, "still in the room after resuming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_certificate_pin_is_refused() {
    let server = TestServer::start_quic().await;
    let (addr, _) = server.quic.clone().unwrap();
    let config = server
        .client_config("demo")
        .with_quic(addr.to_string(), QuicTrust::Sha256("00".repeat(32)));
    let err = Client::connect(config).await.unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

/// A CA certificate (PEM), and a server identity for `localhost` and
/// `127.0.0.1` issued by it.
fn ca_and_leaf() -> (String, arbiter_gateway::QuicIdentity) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let identity = arbiter_gateway::QuicIdentity::from_pem(
        leaf.pem().as_bytes(),
        leaf_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    (ca.pem(), identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_issued_certificate_is_verified_by_chain_and_name() {
    let (ca_pem, identity) = ca_and_leaf();
    let hash = identity.cert_sha256().to_owned();
    let server = TestServer::start_quic_with_identity(identity, |_| {}).await;
    let (addr, info) = server.quic.clone().unwrap();
    assert_eq!(
        info.cert_sha256, hash,
        "the configured certificate is announced"
    );

    let trusted = server
        .client_config("demo")
        .with_quic(addr.to_string(), QuicTrust::CaPem(ca_pem));
    let q = Client::connect(trusted).await.unwrap();
    q.join_or_create("counter", None, None).await.unwrap();

    let (other_ca, _) = ca_and_leaf();
    let untrusted = server
        .client_config("demo")
        .with_quic(addr.to_string(), QuicTrust::CaPem(other_ca));
    let err = Client::connect(untrusted).await.unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_moves_a_ws_sessions_moves_to_datagrams() {
    let server = TestServer::start_quic().await;
    for codec in [Codec::Json, Codec::MsgPack] {
        let room = format!("arena-a-{codec}");
        let config = server.client_config("demo").with_codecs(vec![codec]);
        let a = Client::connect(config).await.unwrap();
        a.join_or_create("arena", Some(&room), None).await.unwrap();
        let b = server.client("demo").await;
        b.join_or_create("arena", Some(&room), None).await.unwrap();

        // Before attaching, moves go over the WebSocket.
        move_until_seen(&a, &b, &room, 1, 2).await;
        assert_eq!(a.datagram_stats().sent, 0);
        assert!(a.datagram_stats().over_stream >= 1);

        a.attach_quic().await.unwrap();
        move_until_seen(&a, &b, &room, 3, 4).await;
        assert!(a.datagram_stats().sent >= 1, "{:?}", a.datagram_stats());
        // Reliable traffic still goes over the WebSocket.
        a.presence_set(&room, json!({ "ready": true }))
            .await
            .unwrap();
    }
    assert!(server.metrics_text().contains("transport=\"quic_attach\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_attach_is_refused_and_the_ws_session_goes_on() {
    let server = TestServer::start_quic().await;
    let a = server.client("demo").await;
    a.join_or_create("arena", Some("arena-b"), None)
        .await
        .unwrap();
    let b = server.client("demo").await;
    b.join_or_create("arena", Some("arena-b"), None)
        .await
        .unwrap();

    let wrong_token = json!({ "v": 1, "t": "session.attach", "rid": 9,
        "p": { "session_id": a.session_id().as_str(), "resume_token": "not-the-token" } });
    let unknown = json!({ "v": 1, "t": "session.attach",
        "p": { "session_id": "s_nobody", "resume_token": a.resume_token() } });
    let malformed = json!({ "v": 1, "t": "session.attach", "p": { "session_id": 7 } });
    for attach in [wrong_token, unknown, malformed] {
        let mut raw = RawQuic::connect(&quic_target(&server)).await.unwrap();
        raw.send_frame(attach.to_string().as_bytes()).await.unwrap();
        let reply = raw.next_json().await.unwrap();
        match &reply.msg {
            ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::AuthInvalidToken, "{attach}"),
            other => panic!("expected an error for {attach}, got {other:?}"),
        }
        if attach["rid"] == 9 {
            assert_eq!(reply.rid, Some(9i64.into()), "the rid is echoed");
        }
        assert_eq!(raw.closed().await, Some(u64::from(CLOSE_REFUSED)));
    }
    // The WebSocket session is unaffected, and its moves still arrive.
    assert_eq!(a.list(Some("arena")).await.unwrap().len(), 1);
    move_until_seen(&a, &b, "arena-b", 6, 6).await;
    assert_eq!(a.datagram_stats().sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_too_large_for_a_datagram_goes_reliably() {
    let server = TestServer::start_quic().await;
    let q = server.quic_client("demo").await;
    q.join_or_create("arena", Some("arena-big"), None)
        .await
        .unwrap();
    let w = server.client("demo").await;
    w.join_or_create("arena", Some("arena-big"), None)
        .await
        .unwrap();

    // Far over any datagram size (about 1,200 bytes on loopback paths), well
    // under the 64 KiB frame limit; the arena ignores the extra key.
    let pad = "p".repeat(8_000);
    q.send_message("arena-big", "move", json!({ "x": 9, "y": 8, "pad": pad }))
        .unwrap();
    w.wait_for_state(
        "arena-big",
        |s| player(s, &q) == json!({ "x": 9, "y": 8 }),
        T,
    )
    .await
    .unwrap();
    let stats = q.datagram_stats();
    assert_eq!((stats.sent, stats.over_stream), (0, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_datagrams_do_not_stall_patches() {
    let server = TestServer::start_quic().await;
    let config = server
        .quic_client_config("demo")
        .with_datagram_drop_every(2);
    let q = Client::connect(config).await.unwrap();
    q.join_or_create("arena", Some("arena-loss"), None)
        .await
        .unwrap();
    let w = server.client("demo").await;
    w.join_or_create("arena", Some("arena-loss"), None)
        .await
        .unwrap();
    let seq_before = w.seq("arena-loss").unwrap();

    for x in 1..=20 {
        q.send_message("arena-loss", "move", json!({ "x": x, "y": 0 }))
            .unwrap();
    }
    let stats = q.datagram_stats();
    // Sends are asynchronous: wait for the last one to be seen, resending.
    move_until_seen(&q, &w, "arena-loss", 21, 0).await;
    let stats_after = q.datagram_stats();
    assert!(stats_after.dropped >= 10, "{stats:?} then {stats_after:?}");
    assert!(stats_after.sent >= 10, "{stats_after:?}");
    // Patches kept flowing: the observer's replica advanced in order, and
    // reliable traffic on the QUIC stream is unaffected by the losses.
    assert!(w.seq("arena-loss").unwrap() > seq_before);
    assert_eq!(q.list(Some("arena")).await.unwrap().len(), 1);
    q.wait_for_state(
        "arena-loss",
        |s| player(s, &q) == json!({ "x": 21, "y": 0 }),
        T,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_flood_is_rate_limited() {
    let server = TestServer::start_quic_with(|c| {
        c.session.rate_per_sec = 20;
        c.session.rate_burst = 20;
    })
    .await;
    let mut q = server.quic_client("demo").await;
    q.join_or_create("arena", Some("arena-flood"), None)
        .await
        .unwrap();
    for i in 0..300 {
        q.send_message("arena-flood", "move", json!({ "x": i, "y": i }))
            .unwrap();
    }
    let limited = q
        .wait_for_event(
            |e| {
                matches!(
                    e,
                    Event::Error {
                        code: ErrorCode::RateLimited,
                        ..
                    }
                )
            },
            T,
        )
        .await;
    assert!(limited.is_ok(), "the flood is answered rate.limited");
    let metrics = server.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("arbiter_errors_sent_total{code=\"rate.limited\"}")),
        "{metrics}"
    );
    // The server is fine: a new client joins and moves.
    let w = server.client("demo").await;
    w.join_or_create("arena", Some("arena-flood"), None)
        .await
        .unwrap();
    let other = server.client("demo").await;
    other
        .join_or_create("arena", Some("arena-flood"), None)
        .await
        .unwrap();
    move_until_seen(&w, &other, "arena-flood", 42, 42).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_framing_closes_the_connection() {
    let server = TestServer::start_quic().await;
    let mut handshake = Vec::new();
    Handshake::new("demo", &[Codec::Json])
        .encode(&mut handshake)
        .unwrap();

    // A length over the limit closes the connection without reading it.
    let mut raw = RawQuic::connect(&quic_target(&server)).await.unwrap();
    raw.send_frame(&handshake).await.unwrap();
    let ok = raw.next_json().await.unwrap();
    assert!(matches!(ok.msg, ServerMessage::HandshakeOk(_)), "{ok:?}");
    raw.send_stream_bytes(&u32::MAX.to_be_bytes())
        .await
        .unwrap();
    assert_eq!(raw.closed().await, Some(u64::from(CLOSE_PROTOCOL)));

    // A first frame that is not a handshake: an error, then closed.
    let mut raw = RawQuic::connect(&quic_target(&server)).await.unwrap();
    raw.send_frame(br#"{"v":1,"t":"ping","p":{}}"#)
        .await
        .unwrap();
    let reply = raw.next_json().await.unwrap();
    match reply.msg {
        ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::HandshakeRequired),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(raw.closed().await.is_some());

    // The server goes on.
    let q = server.quic_client("demo").await;
    q.join_or_create("arena", None, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_only_servers_offer_no_quic() {
    let server = TestServer::start().await;
    let a = server.client("demo").await;
    assert_eq!(a.quic_info(), None);
    let err = a.attach_quic().await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");
}
