//! Sessions end to end (PROTOCOL.md §3, §9): resume with missed patches
//! replayed, wrong pairs, expiry, heartbeats, clean close, slow readers, JWT
//! auth and draining. The resuming side is a raw WebSocket client written from
//! the spec, so every frame it gets is checked.

use std::time::Duration;

use arbiter_client::Event;
use arbiter_protocol::ErrorCode;
use arbiter_session::{AuthConfig, JwtConfig};
use arbiter_testkit::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(10);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw JSON client.
struct Raw {
    ws: Ws,
}

impl Raw {
    async fn connect(server: &TestServer) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(server.url())
            .await
            .unwrap();
        Raw { ws }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    /// The next text frame as JSON; `None` when the connection closed.
    async fn recv(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("a frame within 10 s");
            match msg {
                Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Frames until one of type `t` (returned).
    async fn until(&mut self, t: &str) -> Value {
        loop {
            let v = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {t}"));
            if v["t"] == t {
                return v;
            }
        }
    }

    async fn handshake(&mut self, p: Value) -> Value {
        self.send(json!({ "v": 1, "t": "handshake", "p": p })).await;
        self.recv().await.expect("handshake answer")
    }

    async fn hello(server: &TestServer, p: Value) -> (Raw, Value) {
        let mut raw = Raw::connect(server).await;
        let ok = raw.handshake(p).await;
        (raw, ok)
    }
}

fn demo() -> Value {
    json!({ "v": 1, "codecs": ["json"], "project_id": "demo" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_missed_patches_in_order() {
    let server = TestServer::start().await;
    let (mut raw, ok) = Raw::hello(&server, demo()).await;
    assert_eq!(ok["p"]["resumed"], false);
    let (sid, token) = (
        ok["p"]["session_id"].clone(),
        ok["p"]["resume_token"].clone(),
    );
    raw.send(json!({ "v": 1, "t": "room.join_or_create", "rid": 1, "p": { "room_type": "counter", "room": "r" } })).await;
    let snap = raw.until("state.snapshot").await;
    let seq = snap["p"]["seq"].as_u64().unwrap();
    raw.send(json!({ "v": 1, "t": "state.ack", "p": { "room": "r", "seq": seq } }))
        .await;
    // Make sure the ack was handled before dropping: a resync answer comes after it.
    raw.send(json!({ "v": 1, "t": "state.resync", "rid": "sync", "p": { "room": "r" } }))
        .await;
    raw.until("state.snapshot").await;
    drop(raw);

    let other = server.client("demo").await;
    other
        .join_or_create("counter", Some("r"), None)
        .await
        .unwrap();
    // Two patches missed: a counter's state is smaller than its patches, so
    // only the newest two are kept for replay (more would get a snapshot).
    other.send_message("r", "inc", json!({})).unwrap();
    other
        .wait_for_state("r", |s| s["counter"] == 1, T)
        .await
        .unwrap();

    let mut p = demo();
    p["session_id"] = sid.clone();
    p["resume_token"] = token;
    let (mut raw, ok) = Raw::hello(&server, p).await;
    assert_eq!(ok["t"], "handshake.ok");
    assert_eq!(ok["p"]["resumed"], true);
    assert_eq!(ok["p"]["session_id"], sid);
    // Every patch after the ack, in order (the other client's join, then the inc),
    // then presence.state.
    let mut seqs = Vec::new();
    let mut state = snap["p"]["state"].clone();
    loop {
        let f = raw.recv().await.unwrap();
        match f["t"].as_str().unwrap() {
            "state.patch" => {
                seqs.push(f["p"]["seq"].as_u64().unwrap());
                for op in f["p"]["ops"].as_array().unwrap() {
                    if op["path"] == "/counter" {
                        state["counter"] = op["value"].clone();
                    }
                }
            }
            "presence.state" => break,
            other => panic!("unexpected {other}: {f}"),
        }
    }
    let expected: Vec<u64> = (seq + 1..=seq + seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
    assert_eq!(state["counter"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_resumes_by_itself_after_a_drop() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    let b = server.client("demo").await;
    a.join_or_create("counter", Some("r"), None).await.unwrap();
    b.join_or_create("counter", Some("r"), None).await.unwrap();
    let sid = a.session_id();
    a.drop_transport().await.unwrap();
    b.send_message("r", "inc", json!({ "by": 7 })).unwrap();
    a.wait_for_event(|e| matches!(e, Event::Resumed), T)
        .await
        .unwrap();
    assert_eq!(a.session_id(), sid);
    a.wait_for_state("r", |s| s["counter"] == 7, T)
        .await
        .unwrap();
    a.send_message("r", "inc", json!({})).unwrap();
    b.wait_for_state("r", |s| s["counter"] == 8, T)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_expired_pair_gives_a_new_session() {
    let server =
        TestServer::start_with(|c| c.session.session_ttl = Duration::from_millis(300)).await;
    let (raw, ok) = Raw::hello(&server, demo()).await;
    let sid = ok["p"]["session_id"].clone();
    let mut p = demo();
    p["session_id"] = sid.clone();
    p["resume_token"] = json!("not-the-token");
    let (_raw2, ok2) = Raw::hello(&server, p).await;
    assert_eq!(ok2["p"]["resumed"], false);
    assert_ne!(ok2["p"]["session_id"], sid);

    // Another project cannot resume it either, even with the right token.
    let mut p = json!({ "v": 1, "codecs": ["json"], "project_id": "other" });
    p["session_id"] = sid.clone();
    p["resume_token"] = ok["p"]["resume_token"].clone();
    let (_raw3, ok3) = Raw::hello(&server, p).await;
    assert_eq!(ok3["p"]["resumed"], false);

    // Expiry: a member that drops leaves its rooms after the TTL.
    let (mut raw4, ok4) = Raw::hello(&server, demo()).await;
    raw4.send(json!({ "v": 1, "t": "room.join_or_create", "rid": 1, "p": { "room_type": "counter", "room": "x" } })).await;
    raw4.until("presence.state").await;
    let mut watcher = server.client("demo").await;
    watcher
        .join_or_create("counter", Some("x"), None)
        .await
        .unwrap();
    drop(raw4);
    let gone = ok4["p"]["session_id"].as_str().unwrap().to_owned();
    watcher
        .wait_for_event(
            |e| matches!(e, Event::PresenceDiff(d) if d.leaves.keys().any(|k| k.as_str() == gone)),
            T,
        )
        .await
        .unwrap();
    let mut p = demo();
    p["session_id"] = ok4["p"]["session_id"].clone();
    p["resume_token"] = ok4["p"]["resume_token"].clone();
    let (_raw5, ok5) = Raw::hello(&server, p).await;
    assert_eq!(
        ok5["p"]["resumed"], false,
        "expired sessions are not resumed"
    );
    drop(raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_suspended_after_two_heartbeats_and_can_resume() {
    let server = TestServer::start_with(|c| c.session.heartbeat = Duration::from_millis(150)).await;
    let (mut raw, ok) = Raw::hello(&server, demo()).await;
    assert_eq!(ok["p"]["heartbeat_ms"], 150);
    // No ping: the server closes the transport.
    assert_eq!(
        raw.recv().await,
        None,
        "the server closed the silent connection"
    );
    let mut p = demo();
    p["session_id"] = ok["p"]["session_id"].clone();
    p["resume_token"] = ok["p"]["resume_token"].clone();
    let (mut raw2, ok2) = Raw::hello(&server, p).await;
    assert_eq!(ok2["p"]["resumed"], true);
    // Pings keep it alive and are answered.
    for i in 0..5 {
        raw2.send(json!({ "v": 1, "t": "ping", "p": { "ts": i } }))
            .await;
        let pong = raw2.until("pong").await;
        assert_eq!(pong["p"]["ts"], i);
        assert!(pong["p"]["server_ts"].as_u64().unwrap() > 0);
    }
    assert!(
        server
            .metrics_text()
            .contains("arbiter_sessions_suspended_total{reason=\"heartbeat\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_close_leaves_at_once() {
    let server = TestServer::start().await;
    let mut watcher = server.client("demo").await;
    watcher
        .join_or_create("counter", Some("c"), None)
        .await
        .unwrap();
    let (mut raw, ok) = Raw::hello(&server, demo()).await;
    raw.send(json!({ "v": 1, "t": "room.join_or_create", "rid": 1, "p": { "room_type": "counter", "room": "c" } })).await;
    raw.until("presence.state").await;
    raw.ws.close(None).await.unwrap();
    let gone = ok["p"]["session_id"].as_str().unwrap().to_owned();
    watcher
        .wait_for_event(
            |e| matches!(e, Event::PresenceDiff(d) if d.leaves.keys().any(|k| k.as_str() == gone)),
            T,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_is_suspended_without_hurting_the_others() {
    let server = TestServer::start_with(|c| {
        c.outbox_capacity = 16;
        c.session.rate_per_sec = 100_000;
        c.session.rate_burst = 100_000;
    })
    .await;
    // The slow reader joins and then never reads again.
    let (mut slow, ok) = Raw::hello(&server, demo()).await;
    slow.send(json!({ "v": 1, "t": "room.join_or_create", "rid": 1, "p": { "room_type": "counter", "room": "busy" } })).await;
    slow.until("presence.state").await;
    let fast = server.client("demo").await;
    fast.join_or_create("counter", Some("busy"), None)
        .await
        .unwrap();
    // Large presence updates fan out to the slow reader until its socket
    // buffers and then its outbox fill up.
    let blob = ["x".repeat(30_000), "y".repeat(30_000)];
    let mut incs = 0;
    for i in 0..400 {
        fast.presence_set("busy", json!({ "blob": blob, "i": i }))
            .await
            .unwrap();
        fast.send_message("busy", "inc", json!({})).unwrap();
        incs += 1;
        if server
            .metrics_text()
            .contains("arbiter_sessions_suspended_total{reason=\"overflow\"} 1")
        {
            break;
        }
    }
    assert!(
        server
            .metrics_text()
            .contains("arbiter_sessions_suspended_total{reason=\"overflow\"} 1"),
        "the slow reader was suspended"
    );
    // The fast client is unaffected and its state is exact.
    fast.wait_for_state("busy", |s| s["counter"] == incs, T)
        .await
        .unwrap();
    assert!(!fast.is_closed());
    // The slow session can resume and gets a consistent state.
    let mut p = demo();
    p["session_id"] = ok["p"]["session_id"].clone();
    p["resume_token"] = ok["p"]["resume_token"].clone();
    let (mut again, ok2) = Raw::hello(&server, p).await;
    assert_eq!(ok2["p"]["resumed"], true);
    let first = again.recv().await.unwrap();
    assert!(
        first["t"] == "state.snapshot" || first["t"] == "state.patch",
        "replay starts with state: {first}"
    );
    drop(slow);
}

fn token(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_auth_accepts_good_tokens_and_refuses_the_rest() {
    let secret = b"a-test-secret-that-is-32-bytes-long!";
    let server = TestServer::start_with(|c| {
        c.session.auth = AuthConfig::Jwt(JwtConfig {
            hs256_secret: Some(secret.to_vec()),
            ..JwtConfig::default()
        });
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = token(
        json!({ "sub": "alice", "project_id": "demo", "exp": now + 600 }),
        secret,
    );
    let client = arbiter_client::Client::connect(server.client_config("demo").with_token(good))
        .await
        .unwrap();
    client
        .join_or_create("counter", Some("auth"), None)
        .await
        .unwrap();

    let cases = [
        (
            Some(token(
                json!({ "sub": "a", "project_id": "demo", "exp": now - 600 }),
                secret,
            )),
            "demo",
            ErrorCode::AuthExpired,
        ),
        (
            Some(token(
                json!({ "sub": "a", "project_id": "other", "exp": now + 600 }),
                secret,
            )),
            "demo",
            ErrorCode::AuthProjectMismatch,
        ),
        (
            Some(token(
                json!({ "sub": "a", "project_id": "demo", "exp": now + 600 }),
                b"wrong-secret-wrong-secret-wrong-secret",
            )),
            "demo",
            ErrorCode::AuthInvalidToken,
        ),
        (
            Some("not.a.jwt".to_owned()),
            "demo",
            ErrorCode::AuthInvalidToken,
        ),
        (None, "demo", ErrorCode::AuthInvalidToken),
    ];
    for (tok, project, code) in cases {
        let mut p = json!({ "v": 1, "codecs": ["json"], "project_id": project });
        if let Some(t) = tok {
            p["token"] = json!(t);
        }
        let (mut raw, reply) = Raw::hello(&server, p).await;
        assert_eq!(reply["t"], "error", "{reply}");
        assert_eq!(reply["p"]["code"], code.as_str());
        assert_eq!(raw.recv().await, None, "closed after an auth error");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_closes_rooms_and_refuses_new_sessions() {
    let server = TestServer::start().await;
    let mut a = server.client("demo").await;
    a.join_or_create("arena", Some("d"), None).await.unwrap();
    let runtime = server.runtime.clone();
    let drain = tokio::spawn(async move { runtime.drain().await });
    let ev = a
        .wait_for_event(|e| matches!(e, Event::RoomClosed { .. }), T)
        .await
        .unwrap();
    let Event::RoomClosed { reason, .. } = ev else {
        unreachable!()
    };
    assert!(reason.contains("shutting down"), "{reason}");
    drain.await.unwrap();
    let (_raw, reply) = Raw::hello(&server, demo()).await;
    assert_eq!(reply["p"]["code"], "server.draining");
}
