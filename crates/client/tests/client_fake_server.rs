//! The async client against a scripted fake server on loopback: handshake,
//! requests, state sync with acks and resyncs, dropped connections and resume.
//! Every wait is bounded; nothing sleeps for correctness.

use std::time::Duration;

use arbiter_client::{Client, ClientConfig, ClientError, Event, Heartbeat};
use arbiter_protocol::{
    Checksum, ClientFrame, ClientMessage, Codec, ErrorCode, ErrorPayload, Handshake, HandshakeOk,
    Joined, Limits, PresenceState, Rid, RoomId, RpcOk, RpcResponse, Seq, ServerFrame,
    ServerRoomBytes, ServerRoomMessage, SessionId, StateAck, StatePatch, StateSnapshot,
    decode_handshake,
};
use arbiter_state::PatchOp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Bound on every wait; generous, never a timing assertion.
const LIMIT: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

struct FakeServer {
    listener: TcpListener,
    url: String,
}

impl FakeServer {
    async fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        FakeServer {
            listener,
            url: format!("ws://{addr}/"),
        }
    }

    fn config(&self) -> ClientConfig {
        ClientConfig::new(self.url.clone(), "demo").with_request_timeout(LIMIT)
    }

    /// Accepts one connection and reads its handshake.
    async fn accept(&self) -> (Peer, Handshake) {
        within("accept", async {
            let (tcp, _) = self.listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp)
                .await
                .expect("ws upgrade");
            let first = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                other => panic!("expected a text handshake, got {other:?}"),
            };
            let handshake = decode_handshake(first.as_bytes()).expect("valid handshake");
            let peer = Peer {
                ws,
                codec: Codec::Json,
            };
            (peer, handshake)
        })
        .await
    }

    /// Accepts a connection and answers its handshake with `resumed`.
    async fn accept_ok(&self, session: &str, resumed: bool) -> (Peer, Handshake) {
        let (mut peer, handshake) = self.accept().await;
        let codec = handshake.negotiate().expect("common codec");
        peer.handshake_ok(codec, session, resumed, 60_000).await;
        (peer, handshake)
    }
}

/// The server side of one connection.
struct Peer {
    ws: WebSocketStream<TcpStream>,
    codec: Codec,
}

impl Peer {
    async fn handshake_ok(
        &mut self,
        codec: Codec,
        session: &str,
        resumed: bool,
        heartbeat_ms: u32,
    ) {
        let ok = HandshakeOk {
            codec,
            session_id: SessionId::new(session).expect("valid id"),
            resume_token: format!("token-of-{session}"),
            resumed,
            heartbeat_ms,
            quic: None,
        };
        self.codec = Codec::Json;
        self.send(ServerFrame::new(ok)).await;
        self.codec = codec;
    }

    async fn send(&mut self, frame: ServerFrame) {
        let mut buf = Vec::new();
        self.codec.encode_server(&frame, &mut buf).expect("encodes");
        let message = if self.codec.is_binary() {
            Message::Binary(buf.into())
        } else {
            Message::text(String::from_utf8(buf).expect("utf-8"))
        };
        within("send", self.ws.send(message)).await.expect("sent");
    }

    /// The next raw data message.
    async fn recv_message(&mut self) -> Message {
        loop {
            match within("recv", self.ws.next()).await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return message,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The next frame, pings included.
    async fn recv_any(&mut self) -> ClientFrame {
        let limits = Limits::default();
        match self.recv_message().await {
            Message::Text(t) => Codec::Json.decode_client(t.as_bytes(), &limits),
            Message::Binary(b) => Codec::MsgPack.decode_client(&b, &limits),
            other => panic!("expected a data frame, got {other:?}"),
        }
        .expect("decodable client frame")
    }

    /// The next frame that is not a ping.
    async fn recv(&mut self) -> ClientFrame {
        loop {
            let frame = self.recv_any().await;
            if !matches!(frame.msg, ClientMessage::Ping(_)) {
                return frame;
            }
        }
    }

    async fn expect_ack(&mut self) -> StateAck {
        match self.recv().await.msg {
            ClientMessage::StateAck(ack) => ack,
            other => panic!("expected state.ack, got {other:?}"),
        }
    }

    /// Waits until the client's side of the connection is gone.
    async fn expect_gone(&mut self) {
        within("connection end", async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

fn room() -> RoomId {
    RoomId::new("r1").expect("valid id")
}

fn sum(v: &Value) -> Checksum {
    Checksum(arbiter_state::checksum(v).as_u64())
}

fn snapshot(n: i64, seq: u64) -> ServerFrame {
    let state = json!({ "n": n });
    ServerFrame::new(StateSnapshot {
        checksum: sum(&state),
        state,
        seq: Seq(seq),
    })
    .in_room(room())
}

/// A patch setting `/n` to `n`.
fn patch(seq: u64, n: i64) -> ServerFrame {
    ServerFrame::new(StatePatch {
        seq: Seq(seq),
        ops: vec![PatchOp::set("/n", json!(n))],
        checksum: Some(sum(&json!({ "n": n }))),
    })
    .in_room(room())
}

async fn connect(server: &FakeServer, config: ClientConfig) -> (Client, Peer) {
    let (client, (peer, handshake)) =
        tokio::join!(Client::connect(config), server.accept_ok("s_1", false));
    assert_eq!(handshake.project_id, "demo");
    assert_eq!(handshake.resume(), None);
    (client.expect("connects"), peer)
}

/// Joins room `r1` with state `{n}` at `seq`; consumes the snapshot's ack.
async fn join(client: &Client, peer: &mut Peer, n: i64, seq: u64) {
    let serve = async {
        let frame = peer.recv().await;
        let ClientMessage::RoomJoinOrCreate(join) = &frame.msg else {
            panic!("expected a join, got {frame:?}");
        };
        assert_eq!(join.room.as_ref(), Some(&room()));
        let joined = RpcOk::Joined(Joined {
            room: room(),
            room_type: join.room_type.clone(),
            created: true,
        });
        peer.send(ServerFrame::new(RpcResponse::Ok(joined)).with_rid(frame.rid))
            .await;
        peer.send(snapshot(n, seq)).await;
        let presence = PresenceState {
            room: room(),
            members: Default::default(),
        };
        peer.send(ServerFrame::new(presence)).await;
    };
    let (joined, ()) = tokio::join!(client.join_or_create("counter", Some("r1"), None), serve);
    let joined = joined.expect("joined");
    assert!(joined.created);
    // The snapshot is in place when join_or_create returns.
    assert_eq!(client.state("r1"), Some(json!({ "n": n })));
    let ack = peer.expect_ack().await;
    assert_eq!(
        (ack.seq, ack.checksum),
        (Seq(seq), Some(sum(&json!({ "n": n }))))
    );
}

async fn wait_n(client: &Client, n: i64) -> Value {
    client
        .wait_for_state("r1", |s| s["n"] == n, LIMIT)
        .await
        .expect("state reached")
}

async fn event(client: &mut Client, what: &str, pred: impl FnMut(&Event) -> bool) -> Event {
    client
        .wait_for_event(pred, LIMIT)
        .await
        .unwrap_or_else(|e| panic!("no {what} event: {e}"))
}

#[tokio::test]
async fn state_sync_with_acks_in_both_codecs() {
    for codec in [Codec::MsgPack, Codec::Json] {
        let server = FakeServer::start().await;
        let config = server.config().with_codecs(vec![codec]);
        let (mut client, mut peer) = connect(&server, config).await;
        assert_eq!(client.codec(), codec);
        assert_eq!(client.session_id().as_str(), "s_1");
        assert_eq!(client.resume_token(), "token-of-s_1");
        join(&client, &mut peer, 0, 3).await;

        peer.send(patch(4, 1)).await;
        wait_n(&client, 1).await;
        let ack = peer.expect_ack().await;
        assert_eq!((ack.room, ack.seq), (room(), Seq(4)));
        assert_eq!(ack.checksum, Some(sum(&json!({ "n": 1 }))));
        assert_eq!(client.seq("r1"), Some(Seq(4)));

        let mut seen = Vec::new();
        while let Some(e) = client.try_next_event() {
            seen.push(e);
        }
        assert!(
            matches!(
                &seen[..],
                [
                    Event::Snapshot { seq: Seq(3), .. },
                    Event::PresenceState(_),
                    Event::Patch { seq: Seq(4), .. }
                ]
            ),
            "{seen:?}"
        );
    }
}

#[tokio::test]
async fn a_gap_or_a_mismatch_asks_for_a_snapshot() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    join(&client, &mut peer, 0, 3).await;

    for (bad, reason) in [(patch(6, 9), "gap"), (patch(7, 9), "checksum")] {
        let mut bad = bad;
        if reason == "checksum"
            && let arbiter_protocol::ServerMessage::StatePatch(p) = &mut bad.msg
        {
            p.seq = Seq(7);
            p.checksum = Some(Checksum(42));
        }
        peer.send(bad).await;
        let frame = peer.recv().await;
        let ClientMessage::StateResync(resync) = &frame.msg else {
            panic!("expected state.resync, got {frame:?}");
        };
        assert_eq!(resync.reason.as_deref(), Some(reason));
        assert!(frame.rid.is_some());
        let seq = if reason == "gap" { 6 } else { 7 };
        peer.send(snapshot(5, seq)).await;
        peer.send(ServerFrame::new(RpcResponse::Ok(RpcOk::Done)).with_rid(frame.rid))
            .await;
        assert_eq!(peer.expect_ack().await.seq, Seq(seq));
        event(&mut client, "resync", |e| {
            matches!(e, Event::ResyncRequested { .. })
        })
        .await;
        event(&mut client, "snapshot", |e| {
            matches!(e, Event::Snapshot { .. })
        })
        .await;
        assert_eq!(client.seq("r1"), Some(Seq(seq)));
    }
    assert_eq!(client.state("r1"), Some(json!({ "n": 5 })));
}

#[tokio::test]
async fn refusals_are_typed_and_stray_errors_are_events() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    let serve = async {
        let frame = peer.recv().await;
        assert_eq!(frame.rid, Some("c-1".into()));
        let refused = RpcResponse::Err {
            code: ErrorCode::RoomUnknownType,
            reason: "no such type".into(),
        };
        peer.send(ServerFrame::new(refused).with_rid(frame.rid))
            .await;
    };
    let (listed, ()) = tokio::join!(client.list(Some("nope")), serve);
    let err = listed.expect_err("refused");
    assert!(matches!(
        err,
        ClientError::Rpc {
            code: ErrorCode::RoomUnknownType,
            ..
        }
    ));
    assert_eq!(err.code(), Some(ErrorCode::RoomUnknownType));

    let stray = ErrorPayload {
        code: ErrorCode::BadFrame,
        reason: "garbage".into(),
    };
    peer.send(ServerFrame::new(stray).with_rid(Some(Rid::Int(99))))
        .await;
    let e = event(&mut client, "error", |e| matches!(e, Event::Error { .. })).await;
    assert_eq!(
        e,
        Event::Error {
            code: ErrorCode::BadFrame,
            reason: "garbage".into(),
            rid: Some(Rid::Int(99))
        }
    );
}

#[tokio::test]
async fn messages_and_bytes_are_events_and_raw_frames_reach_the_wire() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    client
        .send_message("r1", "inc", json!({ "by": 2 }))
        .expect("queued");
    let frame = peer.recv().await;
    assert_eq!(frame.target_room(), Some(&room()));
    assert!(
        matches!(&frame.msg, ClientMessage::RoomMessage(m) if m.kind == "inc" && m.data == json!({"by": 2}))
    );
    client
        .send_bytes("r1", "blob", vec![0, 1, 255])
        .expect("queued");
    assert!(
        matches!(peer.recv().await.msg, ClientMessage::RoomMessageBytes(b) if b.data == [0, 1, 255])
    );
    assert!(matches!(
        client.send_message("bad room id", "x", Value::Null),
        Err(ClientError::InvalidInput(_))
    ));

    client.send_raw_text("{not json").expect("queued");
    assert_eq!(peer.recv_message().await, Message::text("{not json"));
    client.send_raw_binary(vec![0xc1]).expect("queued");
    assert_eq!(
        peer.recv_message().await,
        Message::Binary(vec![0xc1].into())
    );

    let from = SessionId::new("s_2").expect("valid");
    let msg = ServerRoomMessage {
        kind: "chat".into(),
        data: json!("hi"),
        from: Some(from.clone()),
    };
    peer.send(ServerFrame::new(msg).in_room(room())).await;
    let bytes = ServerRoomBytes {
        kind: "blob".into(),
        data: vec![7, 8],
        from: None,
    };
    peer.send(ServerFrame::new(bytes).in_room(room())).await;
    assert_eq!(
        within("event", client.next_event()).await,
        Some(Event::Message {
            room: room(),
            kind: "chat".into(),
            data: json!("hi"),
            from: Some(from)
        })
    );
    assert!(matches!(
        within("event", client.next_event()).await,
        Some(Event::Bytes { data, .. }) if data == [7, 8]
    ));
}

#[tokio::test]
async fn pings_follow_the_announced_heartbeat() {
    let server = FakeServer::start().await;
    let serve = async {
        let (mut peer, handshake) = server.accept().await;
        peer.handshake_ok(handshake.negotiate().expect("codec"), "s_1", false, 40)
            .await;
        peer
    };
    let (client, mut peer) = tokio::join!(Client::connect(server.config()), serve);
    let client = client.expect("connects");
    assert_eq!(client.heartbeat_ms(), 40);
    let frame = peer.recv_any().await;
    assert!(matches!(frame.msg, ClientMessage::Ping(p) if p.ts.is_some()));
}

#[tokio::test]
async fn a_rejected_handshake_is_a_typed_error() {
    let server = FakeServer::start().await;
    let serve = async {
        let (mut peer, _) = server.accept().await;
        let refused = ErrorPayload {
            code: ErrorCode::AuthInvalidToken,
            reason: "bad token".into(),
        };
        peer.send(ServerFrame::new(refused)).await;
        peer
    };
    let config = server.config().with_token("nope");
    let (client, _peer) = tokio::join!(Client::connect(config), serve);
    let err = client.expect_err("rejected");
    assert_eq!(err.code(), Some(ErrorCode::AuthInvalidToken));
    assert!(matches!(err, ClientError::Rejected { .. }));
}

#[tokio::test]
async fn drop_transport_resumes_and_ignores_replayed_patches() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    join(&client, &mut peer, 0, 3).await;
    peer.send(patch(4, 1)).await;
    assert_eq!(peer.expect_ack().await.seq, Seq(4));

    let (dropped, ()) = tokio::join!(client.drop_transport(), peer.expect_gone());
    dropped.expect("dropped");
    let (mut peer, handshake) = server.accept_ok("s_1", true).await;
    let (id, token) = handshake.resume().expect("a resuming handshake");
    assert_eq!((id.as_str(), token), ("s_1", "token-of-s_1"));

    // The server replays from its last ack (3): seq 4 is a duplicate.
    peer.send(patch(4, 1)).await;
    peer.send(patch(5, 2)).await;
    wait_n(&client, 2).await;
    assert_eq!(peer.expect_ack().await.seq, Seq(5));
    event(&mut client, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    let next = within("event", client.next_event()).await;
    assert_eq!(next, Some(Event::Resumed));
    let next = within("event", client.next_event()).await;
    assert!(
        matches!(next, Some(Event::Patch { seq: Seq(5), .. })),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_server_side_drop_fails_the_sent_request_then_resumes() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    let serve = async {
        let frame = peer.recv().await;
        assert!(matches!(frame.msg, ClientMessage::RoomList(_)));
        drop(peer);
        server.accept_ok("s_1", true).await
    };
    let (listed, (mut peer, _)) = tokio::join!(client.list(None), serve);
    assert!(
        matches!(listed, Err(ClientError::ConnectionLost)),
        "{listed:?}"
    );
    event(&mut client, "resumed", |e| *e == Event::Resumed).await;

    // The resumed connection carries requests again.
    let serve = async {
        let frame = peer.recv().await;
        peer.send(ServerFrame::new(RpcResponse::Ok(RpcOk::Rooms(vec![]))).with_rid(frame.rid))
            .await;
    };
    let (listed, ()) = tokio::join!(client.list(None), serve);
    assert_eq!(listed.expect("listed"), vec![]);
}

#[tokio::test]
async fn a_refused_resume_is_a_new_session_without_rooms() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    join(&client, &mut peer, 0, 3).await;
    drop(peer);
    let (_peer, handshake) = server.accept_ok("s_2", false).await;
    assert!(handshake.resume().is_some());
    let lost = event(&mut client, "session lost", |e| {
        matches!(e, Event::SessionLost { .. })
    })
    .await;
    assert_eq!(
        lost,
        Event::SessionLost {
            session_id: SessionId::new("s_2").expect("valid")
        }
    );
    assert_eq!(client.state("r1"), None);
    assert_eq!(client.session_id().as_str(), "s_2");
}

#[tokio::test]
async fn resume_gives_up_when_the_server_is_gone() {
    let server = FakeServer::start().await;
    let mut config = server.config();
    config.resume_window = Duration::from_millis(300);
    let (mut client, peer) = connect(&server, config).await;
    drop(server); // nothing listens any more: every attempt is refused
    drop(peer);
    let mut reasons = Vec::new();
    while let Some(e) = within("event", client.next_event()).await {
        if let Event::Disconnected { reason } = e {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[1].starts_with("resume failed"), "{reasons:?}");
    assert!(client.is_closed());
    assert!(matches!(client.list(None).await, Err(ClientError::Closed)));
}

#[tokio::test]
async fn without_auto_resume_a_drop_closes_the_client() {
    let server = FakeServer::start().await;
    let config = server
        .config()
        .with_auto_resume(false)
        .with_heartbeat(Heartbeat::Off);
    let (mut client, peer) = connect(&server, config).await;
    drop(peer);
    let first = within("event", client.next_event()).await;
    assert!(
        matches!(first, Some(Event::Disconnected { .. })),
        "{first:?}"
    );
    assert_eq!(within("end of events", client.next_event()).await, None);
}

#[tokio::test]
async fn close_sends_a_close_frame_and_ends_the_events() {
    let server = FakeServer::start().await;
    let (mut client, mut peer) = connect(&server, server.config()).await;
    let serve = async {
        match within("close", peer.ws.next()).await {
            Some(Ok(Message::Close(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
        // Keep reading so that the close reply goes out and the client finishes.
        peer.expect_gone().await;
    };
    let (closed, ()) = tokio::join!(client.close(), serve);
    closed.expect("closed");
    assert_eq!(within("end of events", client.next_event()).await, None);
    assert!(matches!(
        client.send_message("r1", "x", Value::Null),
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn requests_made_while_reconnecting_are_sent_after_resume() {
    let server = FakeServer::start().await;
    let (mut client, peer) = connect(&server, server.config()).await;
    let (dropped, ()) = tokio::join!(client.drop_transport(), async {
        let mut peer = peer;
        peer.expect_gone().await;
    });
    dropped.expect("dropped");
    // Queued while the client reconnects: not lost, sent on the new connection.
    let serve = async {
        let (mut peer, _) = server.accept_ok("s_1", true).await;
        let frame = peer.recv().await;
        assert!(matches!(frame.msg, ClientMessage::MatchmakingDequeue(_)));
        peer.send(
            ServerFrame::new(RpcResponse::Ok(RpcOk::Dequeued { removed: 1 })).with_rid(frame.rid),
        )
        .await;
        peer
    };
    let (removed, _peer) = tokio::join!(client.dequeue(None), serve);
    assert_eq!(removed.expect("answered"), 1);
    event(&mut client, "resumed", |e| *e == Event::Resumed).await;
}

#[tokio::test]
async fn leave_forgets_the_room_and_unanswered_requests_time_out() {
    let server = FakeServer::start().await;
    let config = server.config();
    let (client, mut peer) = connect(&server, config).await;
    join(&client, &mut peer, 0, 3).await;
    assert_eq!(client.rooms(), vec![room()]);
    let serve = async {
        let frame = peer.recv().await;
        assert!(matches!(&frame.msg, ClientMessage::RoomLeave(l) if l.room == room()));
        peer.send(ServerFrame::new(RpcResponse::Ok(RpcOk::Done)).with_rid(frame.rid))
            .await;
    };
    let (left, ()) = tokio::join!(client.leave("r1"), serve);
    left.expect("left");
    assert_eq!(client.state("r1"), None);
    assert!(client.rooms().is_empty());

    // Nothing will satisfy these: both end with Timeout, not a hang.
    let waited = client
        .wait_for_state("r1", |_| true, Duration::from_millis(20))
        .await;
    assert!(matches!(waited, Err(ClientError::Timeout)));
    let mut short = server
        .config()
        .with_request_timeout(Duration::from_millis(20));
    short.heartbeat = Heartbeat::Off;
    let (quiet, mut quiet_peer) = connect(&server, short).await;
    let (listed, frame) = tokio::join!(quiet.list(None), quiet_peer.recv());
    assert!(matches!(listed, Err(ClientError::Timeout)), "{listed:?}");
    // The late answer is dropped; the client still works.
    quiet_peer
        .send(ServerFrame::new(RpcResponse::Ok(RpcOk::Rooms(vec![]))).with_rid(frame.rid))
        .await;
    quiet
        .send_message("r1", "ping", Value::Null)
        .expect("queued");
    assert!(matches!(
        quiet_peer.recv().await.msg,
        ClientMessage::RoomMessage(_)
    ));
}

#[tokio::test]
async fn frames_of_the_wrong_kind_are_reported_and_dropped() {
    let server = FakeServer::start().await;
    let config = server.config().with_codecs(vec![Codec::MsgPack]);
    let (mut client, mut peer) = connect(&server, config).await;
    within(
        "send",
        peer.ws
            .send(Message::text(r#"{"v":1,"t":"pong","p":{"server_ts":1}}"#)),
    )
    .await
    .expect("sent");
    within("send", peer.ws.send(Message::Binary(vec![0xc1].into())))
        .await
        .expect("sent");
    for _ in 0..2 {
        let e = within("event", client.next_event()).await;
        assert!(matches!(e, Some(Event::InvalidFrame { .. })), "{e:?}");
    }
    // The session goes on.
    peer.send(
        ServerFrame::new(ServerRoomMessage {
            kind: "k".into(),
            data: Value::Null,
            from: None,
        })
        .in_room(room()),
    )
    .await;
    let e = within("event", client.next_event()).await;
    assert!(matches!(e, Some(Event::Message { .. })), "{e:?}");
}
