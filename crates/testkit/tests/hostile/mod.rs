//! Shared pieces of the hostile-input end-to-end tests: a raw WebSocket
//! client speaking the protocol by hand, a hand-made MessagePack encoder,
//! tables of hostile cases and the checks that a well-behaved client in the
//! same room saw nothing change.
#![allow(dead_code, unused_imports)]

pub(crate) use std::time::Duration;

pub(crate) use arbiter_client::{Client, ClientConfig, Codec, ErrorCode, Event};
pub(crate) use arbiter_testkit::TestServer;
pub(crate) use futures_util::{SinkExt, StreamExt};
pub(crate) use serde_json::{Value, json};
pub(crate) use tokio::net::TcpStream;
pub(crate) use tokio_tungstenite::tungstenite::Message;
pub(crate) use tokio_tungstenite::tungstenite::protocol::frame::Frame;
pub(crate) use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
pub(crate) use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on every wait; generous for a loaded 2-core machine.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// Every session of these tests belongs to this project.
pub(crate) const PROJECT: &str = "e2e";

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the server sent next on a raw connection.
#[derive(Debug)]
pub(crate) enum Got {
    Frame(Value),
    Closed(String),
}

/// How the `rid` of an expected `error` is checked.
#[derive(Debug, Clone)]
pub(crate) enum RidIs {
    /// Echoed exactly (same JSON type).
    Echoed(Value),
    /// Absent: the frame's rid could not be read (or it had none).
    Absent,
    /// The spec leaves it to the server whether the rid was readable; if one
    /// is there it must be the frame's.
    EchoedIfAny(Value),
}

/// A raw WebSocket connection speaking the protocol by hand.
pub(crate) struct Raw {
    pub(crate) ws: Ws,
    pub(crate) msgpack: bool,
}

/// Opens a WebSocket to the server, no handshake yet.
pub(crate) async fn open_ws(server: &TestServer) -> Ws {
    let connect = tokio_tungstenite::connect_async(server.url());
    let (ws, _) = tokio::time::timeout(WAIT, connect)
        .await
        .expect("WebSocket upgrade within the bound")
        .expect("WebSocket upgrade");
    ws
}

/// Reads the next protocol frame (control frames skipped), bounded by [`WAIT`].
pub(crate) async fn next_frame(ws: &mut Ws) -> Got {
    read_frame(ws, None).await
}

/// [`next_frame`], checking the WebSocket message kind when `binary` says
/// which one the session negotiated (binary for MessagePack, text for JSON).
pub(crate) async fn read_frame(ws: &mut Ws, binary: Option<bool>) -> Got {
    loop {
        let message = match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => panic!("the server sent nothing and did not close within {WAIT:?}"),
            Ok(None) => return Got::Closed("end of stream".into()),
            Ok(Some(Err(e))) => return Got::Closed(format!("transport error: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        match message {
            Message::Text(t) => {
                assert_ne!(
                    binary,
                    Some(true),
                    "a text frame on a MessagePack session: {t}"
                );
                let v = serde_json::from_str(t.as_str()).expect("the server sends valid JSON");
                return Got::Frame(v);
            }
            Message::Binary(b) => {
                assert_ne!(binary, Some(false), "a binary frame on a JSON session");
                let v = rmp_serde::from_slice(&b).expect("the server sends valid MessagePack");
                return Got::Frame(v);
            }
            Message::Close(c) => return Got::Closed(format!("close frame {c:?}")),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// Reads frames until the connection closes; returns the frames read.
pub(crate) async fn frames_until_closed(ws: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        match next_frame(ws).await {
            Got::Frame(f) => frames.push(f),
            Got::Closed(_) => return frames,
        }
    }
}

/// The wrapped JSON handshake (PROTOCOL.md §3).
pub(crate) fn handshake(codecs: Value, rid: &str) -> String {
    json!({ "v": 1, "t": "handshake", "rid": rid,
            "p": { "v": 1, "codecs": codecs, "project_id": PROJECT } })
    .to_string()
}

impl Raw {
    /// Connects and completes the handshake with `codec` (`"json"` or `"msgpack"`).
    pub(crate) async fn connect(server: &TestServer, codec: &str) -> Raw {
        let mut ws = open_ws(server).await;
        ws.send(Message::text(handshake(json!([codec]), "h-1")))
            .await
            .expect("handshake sent");
        let ok = match next_frame(&mut ws).await {
            Got::Frame(f) => f,
            Got::Closed(why) => panic!("handshake refused: {why}"),
        };
        assert_eq!(ok["t"], "handshake.ok", "{ok}");
        assert_eq!(ok["rid"], "h-1", "the handshake's rid is echoed: {ok}");
        assert_eq!(ok["p"]["codec"], codec, "{ok}");
        assert!(ok["p"]["session_id"].is_string(), "{ok}");
        Raw {
            ws,
            msgpack: codec == "msgpack",
        }
    }

    /// The next frame, in the negotiated codec's message kind.
    pub(crate) async fn next(&mut self) -> Got {
        read_frame(&mut self.ws, Some(self.msgpack)).await
    }

    /// Sends one WebSocket message; `false` if the connection is gone.
    pub(crate) async fn try_send(&mut self, message: Message) -> bool {
        self.ws.send(message).await.is_ok()
    }

    pub(crate) async fn send(&mut self, message: Message) {
        assert!(self.try_send(message).await, "the connection is open");
    }

    /// Sends a well-formed frame in the session's codec.
    pub(crate) async fn send_frame(&mut self, frame: &Value) {
        let message = if self.msgpack {
            Message::Binary(mp(frame).into())
        } else {
            Message::text(frame.to_string())
        };
        self.send(message).await;
    }

    /// The next frame that answers something: state and presence frames of the
    /// rooms the session is in are skipped.
    pub(crate) async fn reply(&mut self) -> Value {
        loop {
            let frame = match self.next().await {
                Got::Frame(f) => f,
                Got::Closed(why) => panic!("expected a reply, the connection closed: {why}"),
            };
            let t = frame["t"].as_str().unwrap_or_default();
            if !(t.starts_with("state.") || t.starts_with("presence.")) {
                return frame;
            }
        }
    }

    /// Expects the next reply to be `error { code }` with `rid` as described.
    pub(crate) async fn expect_error(&mut self, code: &str, rid: &RidIs, what: &str) -> Value {
        let frame = self.reply().await;
        assert_error(&frame, code, rid, what);
        frame
    }

    /// `ping` with `rid` answered by `pong` with that rid: the connection is
    /// open and every earlier frame was handled.
    pub(crate) async fn ping(&mut self, rid: &str) {
        self.send_frame(&json!({ "v": 1, "t": "ping", "rid": rid, "p": { "ts": 7 } }))
            .await;
        let pong = self.reply().await;
        assert_eq!(pong["t"], "pong", "{pong}");
        assert_eq!(pong["rid"], rid, "{pong}");
        assert_eq!(pong["p"]["ts"], 7, "{pong}");
    }

    /// Joins (or creates) a counter room; returns its state from the snapshot.
    pub(crate) async fn join_counter(&mut self, room: &str) -> Value {
        let join = json!({ "v": 1, "t": "room.join_or_create", "rid": "j-1",
                           "p": { "room_type": "counter", "room": room } });
        self.send_frame(&join).await;
        let ok = self.reply().await;
        assert_eq!(ok["t"], "rpc.response", "{ok}");
        assert_eq!(ok["p"]["ok"], true, "{ok}");
        loop {
            match self.next().await {
                Got::Frame(f) if f["t"] == "state.snapshot" => return f["p"]["state"].clone(),
                Got::Frame(_) => {}
                Got::Closed(why) => panic!("closed while joining: {why}"),
            }
        }
    }
}

/// Checks that `frame` is `error { code, reason }` with the expected rid.
pub(crate) fn assert_error(frame: &Value, code: &str, rid: &RidIs, what: &str) {
    assert_eq!(frame["v"], 1, "{what}: {frame}");
    assert_eq!(
        frame["t"], "error",
        "{what}: expected an error, got {frame}"
    );
    assert_eq!(frame["p"]["code"], code, "{what}: {frame}");
    let reason = frame["p"]["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{what}: the reason says why: {frame}");
    let got = frame.get("rid");
    match rid {
        RidIs::Echoed(want) => assert_eq!(got, Some(want), "{what}: rid echoed: {frame}"),
        RidIs::Absent => assert_eq!(got, None, "{what}: no rid: {frame}"),
        RidIs::EchoedIfAny(want) => {
            if let Some(got) = got {
                assert_eq!(got, want, "{what}: a rid, if any, is the frame's: {frame}");
            }
        }
    }
}

/// MessagePack of a JSON value (maps with string keys).
pub(crate) fn mp(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec(value).expect("a JSON value encodes as MessagePack")
}

/// A MessagePack string header and bytes.
pub(crate) fn mp_str(s: &str) -> Vec<u8> {
    mp_str_bytes(s.as_bytes())
}

pub(crate) fn mp_str_bytes(bytes: &[u8]) -> Vec<u8> {
    let len = bytes.len();
    let mut out = match len {
        0..=31 => vec![0xa0 | len as u8],
        32..=255 => vec![0xd9, len as u8],
        256..=65535 => {
            let mut h = vec![0xda];
            h.extend_from_slice(&(len as u16).to_be_bytes());
            h
        }
        _ => {
            let mut h = vec![0xdb];
            h.extend_from_slice(&(len as u32).to_be_bytes());
            h
        }
    };
    out.extend_from_slice(bytes);
    out
}

/// A MessagePack map with its entries in this order (at most 15).
pub(crate) fn mp_map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    assert!(entries.len() < 16);
    let mut out = vec![0x80 | entries.len() as u8];
    for (key, value) in entries {
        out.extend(mp_str(key));
        out.extend_from_slice(value);
    }
    out
}

/// A MessagePack `room.message` with `rid` first, so that the rid is readable
/// even when what follows is broken; `data` is raw MessagePack.
pub(crate) fn mp_inc(rid: &str, room: &str, data: Vec<u8>) -> Vec<u8> {
    let p = mp_map(&[("type", mp_str("inc")), ("data", data)]);
    mp_map(&[
        ("rid", mp_str(rid)),
        ("v", vec![0x01]),
        ("t", mp_str("room.message")),
        ("room", mp_str(room)),
        ("p", p),
    ])
}

/// A JSON `room.message` `inc` by 1000 with `rid`, with `edit` applied to the
/// frame: each hostile case breaks a frame that would otherwise move the
/// counter by 1000, so a case the server wrongly accepted shows in the counter.
pub(crate) fn json_inc(rid: &str, room: &str, edit: impl FnOnce(&mut Value)) -> Message {
    let mut frame = json!({ "v": 1, "t": "room.message", "rid": rid, "room": room,
                            "p": { "type": "inc", "data": { "by": 1000 } } });
    edit(&mut frame);
    Message::text(frame.to_string())
}

/// One hostile frame and the answer it must get.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) message: Message,
    pub(crate) code: &'static str,
    pub(crate) rid: RidIs,
}

pub(crate) fn case(name: &'static str, message: Message, code: &'static str, rid: RidIs) -> Case {
    Case {
        name,
        message,
        code,
        rid,
    }
}

pub(crate) fn echoed(rid: &str) -> RidIs {
    RidIs::Echoed(json!(rid))
}

pub(crate) fn text(s: impl Into<String>) -> Message {
    Message::text(s.into())
}

pub(crate) const BAD: &str = "protocol.bad_frame";
pub(crate) const UNKNOWN: &str = "protocol.unknown_type";
pub(crate) const VERSION: &str = "protocol.unsupported_version";
pub(crate) const TOO_LARGE: &str = "protocol.too_large";

/// A server whose sessions may send many malformed frames (the default
/// limit of 20 has its own test).
pub(crate) async fn tolerant_server() -> TestServer {
    TestServer::start_with(|c| c.session.max_protocol_errors = 10_000).await
}

/// A well-behaved client in a fresh counter room.
pub(crate) async fn good_client(server: &TestServer, room: &str) -> Client {
    let good = server.client(PROJECT).await;
    good.join_or_create("counter", Some(room), None)
        .await
        .expect("the good client joins");
    assert_eq!(good.state(room), Some(json!({ "counter": 0 })));
    good
}

/// Sends each case from `hostile` while `good` incs the counter once per
/// case, and checks each answer. Returns the number of good incs.
pub(crate) async fn run_cases(
    hostile: &mut Raw,
    good: &Client,
    room: &str,
    cases: Vec<Case>,
) -> i64 {
    let mut incs = 0;
    for case in cases {
        hostile.send(case.message).await;
        good.send_message(room, "inc", json!({ "by": 1 }))
            .expect("the good client sends");
        incs += 1;
        hostile.expect_error(case.code, &case.rid, case.name).await;
    }
    incs
}

/// After hostile frames: the good client's replica reaches exactly its own
/// incs, and a fresh snapshot (asked by the hostile session) agrees.
pub(crate) async fn assert_counter_exact(
    server: &TestServer,
    hostile: &mut Raw,
    good: &Client,
    room: &str,
    incs: i64,
) {
    let state = good
        .wait_for_state(room, |s| s["counter"] == incs, WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "counter never reached {incs}: {e}; now {:?}",
                good.state(room)
            )
        });
    assert_eq!(state, json!({ "counter": incs }));
    hostile
        .send_frame(&json!({ "v": 1, "t": "state.resync", "rid": "final", "p": { "room": room } }))
        .await;
    let mut snapshot = None;
    let mut answered = false;
    while snapshot.is_none() || !answered {
        let frame = match hostile.next().await {
            Got::Frame(f) => f,
            Got::Closed(why) => panic!("closed during resync: {why}"),
        };
        match frame["t"].as_str() {
            Some("state.snapshot") => snapshot = Some(frame),
            Some("rpc.response") => {
                assert_eq!(frame["rid"], "final", "{frame}");
                assert_eq!(frame["p"]["ok"], true, "{frame}");
                answered = true;
            }
            Some("state.patch" | "presence.diff") => {}
            _ => panic!("unexpected frame during resync: {frame}"),
        }
    }
    let snapshot = snapshot.expect("a snapshot");
    assert_eq!(snapshot["room"], room, "{snapshot}");
    assert_eq!(
        snapshot["p"]["state"],
        json!({ "counter": incs }),
        "{snapshot}"
    );
    let seq = snapshot["p"]["seq"].as_u64().expect("seq");
    assert_eq!(
        Some(seq),
        good.seq(room).map(|s| s.0),
        "the replicas agree on seq"
    );
    let summary = server
        .runtime
        .rooms()
        .into_iter()
        .find(|r| r.room == room)
        .expect("the room is alive");
    assert_eq!(summary.clients, 2);
    assert_eq!(summary.seq, seq);
}

/// A client that does not resume: a closed connection stays closed.
pub(crate) async fn json_client(server: &TestServer) -> Client {
    let config: ClientConfig = server
        .client_config(PROJECT)
        .with_codecs(vec![Codec::Json])
        .with_auto_resume(false);
    Client::connect(config).await.expect("client connects")
}
