//! Hostile input from the outside (PROTOCOL.md §3, §4, §9 and docs/protocol.md
//! §7, §8, §10): raw WebSocket clients written from the specification send what
//! no well-behaved client would, and every test checks the exact answer (error
//! `code`, `rid` echoed when it was readable, connection kept or closed) while
//! a well-behaved [`Client`] in the same `counter` room keeps working and its
//! replica stays exact: the counter always equals the number of its own incs,
//! so a hostile frame that changed the room would show.

use std::time::Duration;

use arbiter_client::{Client, ClientConfig, Codec, ErrorCode, Event};
use arbiter_testkit::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on every wait; generous for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(10);
/// Every session of these tests belongs to this project.
const PROJECT: &str = "e2e";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the server sent next on a raw connection.
#[derive(Debug)]
enum Got {
    Frame(Value),
    Closed(String),
}

/// How the `rid` of an expected `error` is checked.
#[derive(Debug, Clone)]
enum RidIs {
    /// Echoed exactly (same JSON type).
    Echoed(Value),
    /// Absent: the frame's rid could not be read (or it had none).
    Absent,
    /// The spec leaves it to the server whether the rid was readable; if one
    /// is there it must be the frame's.
    EchoedIfAny(Value),
}

/// A raw WebSocket connection speaking the protocol by hand.
struct Raw {
    ws: Ws,
    msgpack: bool,
}

/// Opens a WebSocket to the server, no handshake yet.
async fn open_ws(server: &TestServer) -> Ws {
    let connect = tokio_tungstenite::connect_async(server.url());
    let (ws, _) = tokio::time::timeout(WAIT, connect)
        .await
        .expect("WebSocket upgrade within the bound")
        .expect("WebSocket upgrade");
    ws
}

/// Reads the next protocol frame (control frames skipped), bounded by [`WAIT`].
async fn next_frame(ws: &mut Ws) -> Got {
    read_frame(ws, None).await
}

/// [`next_frame`], checking the WebSocket message kind when `binary` says
/// which one the session negotiated (binary for MessagePack, text for JSON).
async fn read_frame(ws: &mut Ws, binary: Option<bool>) -> Got {
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
async fn frames_until_closed(ws: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        match next_frame(ws).await {
            Got::Frame(f) => frames.push(f),
            Got::Closed(_) => return frames,
        }
    }
}

/// The wrapped JSON handshake (PROTOCOL.md §3).
fn handshake(codecs: Value, rid: &str) -> String {
    json!({ "v": 1, "t": "handshake", "rid": rid,
            "p": { "v": 1, "codecs": codecs, "project_id": PROJECT } })
    .to_string()
}

impl Raw {
    /// Connects and completes the handshake with `codec` (`"json"` or `"msgpack"`).
    async fn connect(server: &TestServer, codec: &str) -> Raw {
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
    async fn next(&mut self) -> Got {
        read_frame(&mut self.ws, Some(self.msgpack)).await
    }

    /// Sends one WebSocket message; `false` if the connection is gone.
    async fn try_send(&mut self, message: Message) -> bool {
        self.ws.send(message).await.is_ok()
    }

    async fn send(&mut self, message: Message) {
        assert!(self.try_send(message).await, "the connection is open");
    }

    /// Sends a well-formed frame in the session's codec.
    async fn send_frame(&mut self, frame: &Value) {
        let message = if self.msgpack {
            Message::Binary(mp(frame).into())
        } else {
            Message::text(frame.to_string())
        };
        self.send(message).await;
    }

    /// The next frame that answers something: state and presence frames of the
    /// rooms the session is in are skipped.
    async fn reply(&mut self) -> Value {
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
    async fn expect_error(&mut self, code: &str, rid: &RidIs, what: &str) -> Value {
        let frame = self.reply().await;
        assert_error(&frame, code, rid, what);
        frame
    }

    /// `ping` with `rid` answered by `pong` with that rid: the connection is
    /// open and every earlier frame was handled.
    async fn ping(&mut self, rid: &str) {
        self.send_frame(&json!({ "v": 1, "t": "ping", "rid": rid, "p": { "ts": 7 } }))
            .await;
        let pong = self.reply().await;
        assert_eq!(pong["t"], "pong", "{pong}");
        assert_eq!(pong["rid"], rid, "{pong}");
        assert_eq!(pong["p"]["ts"], 7, "{pong}");
    }

    /// Joins (or creates) a counter room; returns its state from the snapshot.
    async fn join_counter(&mut self, room: &str) -> Value {
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
fn assert_error(frame: &Value, code: &str, rid: &RidIs, what: &str) {
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
fn mp(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec(value).expect("a JSON value encodes as MessagePack")
}

/// A MessagePack string header and bytes.
fn mp_str(s: &str) -> Vec<u8> {
    mp_str_bytes(s.as_bytes())
}

fn mp_str_bytes(bytes: &[u8]) -> Vec<u8> {
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
fn mp_map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
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
fn mp_inc(rid: &str, room: &str, data: Vec<u8>) -> Vec<u8> {
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
fn json_inc(rid: &str, room: &str, edit: impl FnOnce(&mut Value)) -> Message {
    let mut frame = json!({ "v": 1, "t": "room.message", "rid": rid, "room": room,
                            "p": { "type": "inc", "data": { "by": 1000 } } });
    edit(&mut frame);
    Message::text(frame.to_string())
}

/// One hostile frame and the answer it must get.
struct Case {
    name: &'static str,
    message: Message,
    code: &'static str,
    rid: RidIs,
}

fn case(name: &'static str, message: Message, code: &'static str, rid: RidIs) -> Case {
    Case {
        name,
        message,
        code,
        rid,
    }
}

fn echoed(rid: &str) -> RidIs {
    RidIs::Echoed(json!(rid))
}

fn text(s: impl Into<String>) -> Message {
    Message::text(s.into())
}

const BAD: &str = "protocol.bad_frame";
const UNKNOWN: &str = "protocol.unknown_type";
const VERSION: &str = "protocol.unsupported_version";
const TOO_LARGE: &str = "protocol.too_large";

/// Envelope, id and field-type errors on a JSON session.
#[rustfmt::skip]
fn json_envelope_cases(room: &str) -> Vec<Case> {
    let r = room;
    let long_room = "r".repeat(129);
    vec![
        case("missing v", json_inc("c-1", r, |f| { f.as_object_mut().map(|o| o.remove("v")); }), BAD, echoed("c-1")),
        case("v is 2", json_inc("c-2", r, |f| f["v"] = json!(2)), VERSION, echoed("c-2")),
        case("v is 0", json_inc("c-3", r, |f| f["v"] = json!(0)), VERSION, echoed("c-3")),
        case("v is a float", json_inc("c-4", r, |f| f["v"] = json!(1.5)), VERSION, echoed("c-4")),
        case("v is a string", json_inc("c-5", r, |f| f["v"] = json!("1")), BAD, echoed("c-5")),
        case("missing t", json_inc("c-6", r, |f| { f.as_object_mut().map(|o| o.remove("t")); }), BAD, echoed("c-6")),
        case("t is a number", json_inc("c-7", r, |f| f["t"] = json!(7)), BAD, echoed("c-7")),
        case("unknown type", json_inc("c-8", r, |f| f["t"] = json!("room.mesage")), UNKNOWN, echoed("c-8")),
        case("unknown type, integer rid", json_inc("x", r, |f| { f["t"] = json!("room.jion"); f["rid"] = json!(42); }), UNKNOWN, RidIs::Echoed(json!(42))),
        case("server type rpc.response", text(json!({"v":1,"t":"rpc.response","rid":"c-9","p":{"ok":true}}).to_string()), UNKNOWN, echoed("c-9")),
        case("server type state.patch with bad pointers", text(json!({"v":1,"t":"state.patch","rid":"c-10","room":r,"p":{"seq":999,"ops":[{"op":"set","path":"counter","value":1000},{"op":"set","path":"/counter/~2","value":1},{"op":"del","path":"/"}]}}).to_string()), UNKNOWN, echoed("c-10")),
        case("server type state.snapshot", text(json!({"v":1,"t":"state.snapshot","rid":"c-11","room":r,"p":{"seq":999,"state":{"counter":1000},"checksum":"0000000000000000"}}).to_string()), UNKNOWN, echoed("c-11")),
        case("server type room.closed", text(json!({"v":1,"t":"room.closed","rid":"c-12","p":{"room":r,"reason":"bye"}}).to_string()), UNKNOWN, echoed("c-12")),
        case("server type error", text(json!({"v":1,"t":"error","rid":"c-13","p":{"code":"room.full","reason":"x"}}).to_string()), UNKNOWN, echoed("c-13")),
        case("server type handshake.ok", text(json!({"v":1,"t":"handshake.ok","rid":"c-14","p":{}}).to_string()), UNKNOWN, echoed("c-14")),
        case("second handshake", text(json!({"v":1,"t":"handshake","rid":"c-15","p":{"v":1,"codecs":["json"],"project_id":PROJECT}}).to_string()), BAD, echoed("c-15")),
        case("session.attach on an established session", text(json!({"v":1,"t":"session.attach","rid":"c-16","p":{"session_id":"s_x","resume_token":"t"}}).to_string()), BAD, echoed("c-16")),
        case("rid is an object", json_inc("x", r, |f| f["rid"] = json!({"a": 1})), BAD, RidIs::Absent),
        case("rid over 128 bytes", json_inc(&"x".repeat(129), r, |_| {}), BAD, RidIs::Absent),
        case("rid is a float", json_inc("x", r, |f| f["rid"] = json!(1.5)), BAD, RidIs::Absent),
        case("rid beyond i64", json_inc("x", r, |f| f["rid"] = json!(u64::MAX)), BAD, RidIs::Absent),
        case("envelope room differs from p.room", json_inc("c-17", r, |f| f["p"]["room"] = json!("another-room")), BAD, echoed("c-17")),
        case("room id of 129 characters", json_inc("c-18", r, |f| f["room"] = json!(long_room)), BAD, echoed("c-18")),
        case("room id with bad characters", json_inc("c-19", r, |f| f["room"] = json!("count er!")), BAD, echoed("c-19")),
        case("room id shaped like a JSON pointer", json_inc("c-20", r, |f| f["room"] = json!("/counter/~1x")), BAD, echoed("c-20")),
        case("empty room id", json_inc("c-21", r, |f| f["room"] = json!("")), BAD, echoed("c-21")),
        case("room is a number", json_inc("c-22", r, |f| f["room"] = json!(5)), BAD, echoed("c-22")),
        case("room.message without a room", json_inc("c-23", r, |f| { f.as_object_mut().map(|o| o.remove("room")); }), BAD, echoed("c-23")),
        case("room.message payload is an array", json_inc("c-24", r, |f| f["p"] = json!(["inc", {"by": 1000}])), BAD, echoed("c-24")),
        case("room.message type is a number", json_inc("c-25", r, |f| f["p"]["type"] = json!(5)), BAD, echoed("c-25")),
        case("room.message p is a string", json_inc("c-26", r, |f| f["p"] = json!("inc")), BAD, echoed("c-26")),
        case("join: room_type is a number", text(json!({"v":1,"t":"room.join_or_create","rid":"c-27","p":{"room_type":5}}).to_string()), BAD, echoed("c-27")),
        case("join: room id of 129 characters", text(json!({"v":1,"t":"room.join_or_create","rid":"c-28","p":{"room_type":"counter","room":"r".repeat(129)}}).to_string()), BAD, echoed("c-28")),
        case("join: options is an array", text(json!({"v":1,"t":"room.join_or_create","rid":"c-29","p":{"room_type":"counter","room":r,"options":[1]}}).to_string()), BAD, echoed("c-29")),
        case("join: no room_type", text(json!({"v":1,"t":"room.join_or_create","rid":"c-30","p":{"room":r}}).to_string()), BAD, echoed("c-30")),
        case("state.ack: seq is a string", text(json!({"v":1,"t":"state.ack","rid":"c-31","p":{"room":r,"seq":"x"}}).to_string()), BAD, echoed("c-31")),
        case("state.ack: seq is negative", text(json!({"v":1,"t":"state.ack","rid":"c-32","p":{"room":r,"seq":-1}}).to_string()), BAD, echoed("c-32")),
        case("state.ack: seq is a float", text(json!({"v":1,"t":"state.ack","rid":"c-33","p":{"room":r,"seq":1.0}}).to_string()), BAD, echoed("c-33")),
        case("state.ack: uppercase checksum", text(json!({"v":1,"t":"state.ack","rid":"c-34","p":{"room":r,"seq":1,"checksum":"63040B702D7BE67F"}}).to_string()), BAD, echoed("c-34")),
        case("room.leave: room is a number", text(json!({"v":1,"t":"room.leave","rid":"c-35","p":{"room":5}}).to_string()), BAD, echoed("c-35")),
        case("bytes: data_b64 not base64", text(json!({"v":1,"t":"room.message.bytes","rid":"c-37","room":r,"p":{"type":"inc","data_b64":"!!!!"}}).to_string()), BAD, echoed("c-37")),
        case("bytes: data_b64 without padding", text(json!({"v":1,"t":"room.message.bytes","rid":"c-38","room":r,"p":{"type":"inc","data_b64":"AAECAwQ"}}).to_string()), BAD, echoed("c-38")),
        case("bytes: data_b64 URL-safe alphabet", text(json!({"v":1,"t":"room.message.bytes","rid":"c-39","room":r,"p":{"type":"inc","data_b64":"-_-_"}}).to_string()), BAD, echoed("c-39")),
        case("room id with non-ASCII letters", json_inc("c-40", r, |f| f["room"] = json!("café")), BAD, echoed("c-40")),
        case("presence.set: no room", text(json!({"v":1,"t":"presence.set","rid":"c-36","p":{"state":{}}}).to_string()), BAD, echoed("c-36")),
    ]
}

/// Syntax, bombs, sizes and transport mismatches on a JSON session.
#[rustfmt::skip]
fn json_syntax_cases(room: &str) -> Vec<Case> {
    let r = room;
    let inc_with_data = |rid: &str, data: &str| {
        text(format!(
            r#"{{"v":1,"t":"room.message","rid":"{rid}","room":"{r}","p":{{"type":"inc","data":{data}}}}}"#
        ))
    };
    let deep_arrays = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(3000), "}".repeat(3000));
    let wide_array = format!("[{}0]", "0,".repeat(5000));
    let wide_object = format!(
        "{{{}\"end\":0}}",
        (0..5000)
            .map(|i| format!("\"k{i}\":0,"))
            .collect::<String>()
    );
    let long_string = format!("{{\"by\":1000,\"s\":\"{}\"}}", "x".repeat(40 << 10));
    let oversized = format!("{{\"by\":1000,\"pad\":\"{}\"}}", "x".repeat(70 << 10));
    vec![
        case("duplicate envelope key", text(format!(r#"{{"v":1,"t":"room.message","t":"room.message","rid":"d-1","room":"{r}","p":{{"type":"inc"}}}}"#)), BAD, RidIs::EchoedIfAny(json!("d-1"))),
        case("truncated JSON", text(format!(r#"{{"v":1,"t":"room.message","rid":"d-2","room":"{r}","p":{{"type":"inc""#)), BAD, RidIs::EchoedIfAny(json!("d-2"))),
        case("not JSON", text("inc by 1000 please"), BAD, RidIs::Absent),
        case("a JSON array", text(format!(r#"[1,"room.message","{r}"]"#)), BAD, RidIs::Absent),
        case("a JSON string", text(r#""room.message""#), BAD, RidIs::Absent),
        case("JSON null", text("null"), BAD, RidIs::Absent),
        case("empty text frame", text(""), BAD, RidIs::Absent),
        case("NaN literal", inc_with_data("d-3", r#"{"by":NaN}"#), BAD, RidIs::EchoedIfAny(json!("d-3"))),
        case("bomb: arrays nested 5,000 deep", inc_with_data("d-4", &deep_arrays), BAD, RidIs::EchoedIfAny(json!("d-4"))),
        case("bomb: objects nested 3,000 deep", inc_with_data("d-5", &deep_objects), BAD, RidIs::EchoedIfAny(json!("d-5"))),
        case("bomb: an array of 5,001 entries", inc_with_data("d-6", &wide_array), BAD, RidIs::EchoedIfAny(json!("d-6"))),
        case("bomb: an object of 5,001 keys", inc_with_data("d-7", &wide_object), BAD, RidIs::EchoedIfAny(json!("d-7"))),
        case("a string of 40 KiB", inc_with_data("d-8", &long_string), BAD, RidIs::EchoedIfAny(json!("d-8"))),
        case("frame over 64 KiB", inc_with_data("d-9", &oversized), TOO_LARGE, RidIs::EchoedIfAny(json!("d-9"))),
        case("binary frame on a JSON session", Message::Binary(mp(&json!({"v":1,"t":"room.message","rid":"d-10","room":r,"p":{"type":"inc","data":{"by":1000}}})).into()), BAD, RidIs::EchoedIfAny(json!("d-10"))),
    ]
}

/// A server whose sessions may send many malformed frames (the default
/// limit of 20 has its own test).
async fn tolerant_server() -> TestServer {
    TestServer::start_with(|c| c.session.max_protocol_errors = 10_000).await
}

/// A well-behaved client in a fresh counter room.
async fn good_client(server: &TestServer, room: &str) -> Client {
    let good = server.client(PROJECT).await;
    good.join_or_create("counter", Some(room), None)
        .await
        .expect("the good client joins");
    assert_eq!(good.state(room), Some(json!({ "counter": 0 })));
    good
}

/// Sends each case from `hostile` while `good` incs the counter once per
/// case, and checks each answer. Returns the number of good incs.
async fn run_cases(hostile: &mut Raw, good: &Client, room: &str, cases: Vec<Case>) -> i64 {
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
async fn assert_counter_exact(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_envelopes_get_exact_errors_and_change_nothing() {
    let server = tolerant_server().await;
    let room = "hostile-envelope";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    assert_eq!(hostile.join_counter(room).await, json!({ "counter": 0 }));
    let incs = run_cases(&mut hostile, &good, room, json_envelope_cases(room)).await;
    hostile.ping("still-open").await;
    assert_counter_exact(&server, &mut hostile, &good, room, incs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bombs_syntax_errors_and_wrong_frame_kinds_get_exact_errors() {
    let server = tolerant_server().await;
    let room = "hostile-syntax";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    let incs = run_cases(&mut hostile, &good, room, json_syntax_cases(room)).await;
    // Too large is not fatal: the connection stays and works.
    hostile.ping("after-too-large").await;
    assert_counter_exact(&server, &mut hostile, &good, room, incs).await;
}

/// MessagePack cases: truncation, types outside the JSON model, invalid
/// UTF-8, lying lengths, bombs, wrong types and transport mismatches.
#[rustfmt::skip]
fn msgpack_cases(room: &str) -> Vec<Case> {
    let r = room;
    let bin = |m: Vec<u8>| Message::Binary(m.into());
    let whole = mp_inc("m-1", r, mp(&json!({ "by": 1000 })));
    let mut trailing = mp_inc("m-9", r, mp(&json!({ "by": 1000 })));
    trailing.extend_from_slice(&[0x01, 0x02]);
    let mut nan = vec![0x81];
    nan.extend(mp_str("by"));
    nan.push(0xcb);
    nan.extend_from_slice(&f64::NAN.to_be_bytes());
    let mut int_key = vec![0x81, 0x05];
    int_key.extend(mp(&json!(1000)));
    let mut bad_key = vec![0x81];
    bad_key.extend(mp_str_bytes(&[0xff, 0xfe]));
    bad_key.extend(mp(&json!(1000)));
    let mut deep = vec![0x91; 5000];
    deep.push(0x01);
    let wide = {
        let mut a = vec![0xdc];
        a.extend_from_slice(&5000u16.to_be_bytes());
        a.extend(std::iter::repeat_n(0x00, 5000));
        a
    };
    let oversized = mp(&json!({ "by": 1000, "pad": "x".repeat(70 << 10) }));
    let join_bad_type = mp_map(&[
        ("rid", mp_str("m-20")),
        ("v", vec![0x01]),
        ("t", mp_str("room.join_or_create")),
        ("p", mp_map(&[("room_type", vec![0x05])])),
    ]);
    let typed = |rid: &str, v: u8, t: &str| {
        mp_map(&[
            ("rid", mp_str(rid)),
            ("v", vec![v]),
            ("t", mp_str(t)),
            ("room", mp_str(r)),
            ("p", mp_map(&[("type", mp_str("inc"))])),
        ])
    };
    let positional = mp_map(&[
        ("rid", mp_str("m-24")),
        ("v", vec![0x01]),
        ("t", mp_str("room.message")),
        ("room", mp_str(r)),
        ("p", mp(&json!(["inc", { "by": 1000 }]))),
    ]);
    vec![
        case("truncated by one byte", bin(whole[..whole.len() - 1].to_vec()), BAD, echoed("m-1")),
        case("truncated in the middle", bin(whole[..whole.len() / 2].to_vec()), BAD, echoed("m-1")),
        case("only a map header", bin(vec![0x85]), BAD, RidIs::Absent),
        case("bin in data", bin(mp_inc("m-2", r, vec![0xc4, 0x03, 1, 2, 3])), BAD, echoed("m-2")),
        case("ext in data", bin(mp_inc("m-3", r, vec![0xd4, 0x01, 0x00])), BAD, echoed("m-3")),
        case("invalid UTF-8 in a string", bin(mp_inc("m-4", r, mp_str_bytes(&[0xff, 0xfe, 0xfd]))), BAD, echoed("m-4")),
        case("invalid UTF-8 in a key", bin(mp_inc("m-5", r, bad_key)), BAD, echoed("m-5")),
        case("integer map key", bin(mp_inc("m-6", r, int_key)), BAD, echoed("m-6")),
        case("NaN", bin(mp_inc("m-7", r, nan)), BAD, echoed("m-7")),
        case("reserved byte 0xc1", bin(mp_inc("m-8", r, vec![0xc1])), BAD, echoed("m-8")),
        case("trailing bytes", bin(trailing), BAD, echoed("m-9")),
        case("array32 claiming 4 billion entries", bin(mp_inc("m-10", r, vec![0xdd, 0xff, 0xff, 0xff, 0xff])), BAD, echoed("m-10")),
        case("str32 claiming 2 GiB", bin(mp_inc("m-11", r, vec![0xdb, 0x7f, 0xff, 0xff, 0xff, b'x'])), BAD, echoed("m-11")),
        case("map32 claiming 4 billion entries", bin(vec![0xdf, 0xff, 0xff, 0xff, 0xff]), BAD, RidIs::Absent),
        case("bomb: arrays nested 5,000 deep", bin(mp_inc("m-12", r, deep)), BAD, echoed("m-12")),
        case("bomb: an array of 5,000 entries", bin(mp_inc("m-13", r, wide)), BAD, echoed("m-13")),
        case("a top-level array", bin(mp(&json!([1, "room.message"]))), BAD, RidIs::Absent),
        case("a top-level nil", bin(vec![0xc0]), BAD, RidIs::Absent),
        case("empty binary frame", bin(Vec::new()), BAD, RidIs::Absent),
        case("join: room_type is an integer", bin(join_bad_type), BAD, echoed("m-20")),
        case("unknown type", bin(typed("m-21", 1, "room.mesage")), UNKNOWN, echoed("m-21")),
        case("v is 2", bin(typed("m-22", 2, "room.message")), VERSION, echoed("m-22")),
        case("server type state.patch", bin(typed("m-23", 1, "state.patch")), UNKNOWN, echoed("m-23")),
        case("positional payload", bin(positional), BAD, echoed("m-24")),
        case("frame over 64 KiB", bin(mp_inc("m-25", r, oversized)), TOO_LARGE, RidIs::EchoedIfAny(json!("m-25"))),
        case("text frame on a MessagePack session", json_inc("m-26", r, |_| {}), BAD, RidIs::EchoedIfAny(json!("m-26"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_msgpack_gets_exact_errors_and_changes_nothing() {
    let server = tolerant_server().await;
    let room = "hostile-msgpack";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "msgpack").await;
    hostile.join_counter(room).await;
    // The hand-made encoder is right: the untouched frame is accepted.
    hostile
        .send(Message::Binary(
            mp_inc("ok-1", room, mp(&json!({ "by": 0 }))).into(),
        ))
        .await;
    hostile.ping("encoder-ok").await;
    let incs = run_cases(&mut hostile, &good, room, msgpack_cases(room)).await;
    hostile.ping("still-open").await;
    assert_counter_exact(&server, &mut hostile, &good, room, incs).await;
}

/// A client that does not resume: a closed connection stays closed.
async fn json_client(server: &TestServer) -> Client {
    let config: ClientConfig = server
        .client_config(PROJECT)
        .with_codecs(vec![Codec::Json])
        .with_auto_resume(false);
    Client::connect(config).await.expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_requests_about_rooms_the_session_is_not_in() {
    let server = TestServer::start().await;
    let room = "members-only";
    let good = good_client(&server, room).await;
    let mut outsider = Raw::connect(&server, "json").await;
    // The longest valid room id (128 characters) and rid (128 bytes) are
    // read as such: the answer is about membership, not the frame.
    let longest = "r".repeat(128);
    for (i, target) in [room, "no-such-room", &longest].into_iter().enumerate() {
        let rid = format!("m-{i}-{}", "x".repeat(128 - 4));
        let inc = json!({ "v": 1, "t": "room.message", "rid": rid, "room": target,
                          "p": { "type": "inc", "data": { "by": 1000 } } });
        outsider.send_frame(&inc).await;
        outsider
            .expect_error(
                "room.not_member",
                &RidIs::Echoed(json!(rid)),
                "room.message, not a member",
            )
            .await;
        let bytes = json!({ "v": 1, "t": "room.message.bytes", "room": target,
                            "p": { "type": "inc", "data_b64": "AAECAwQ=" } });
        outsider.send_frame(&bytes).await;
        outsider
            .expect_error(
                "room.not_member",
                &RidIs::Absent,
                "room.message.bytes, not a member",
            )
            .await;
        for (t, p) in [
            ("room.leave", json!({ "room": target })),
            (
                "presence.set",
                json!({ "room": target, "state": { "name": "eve" } }),
            ),
            ("state.resync", json!({ "room": target })),
        ] {
            let rid = format!("{t}-{i}");
            outsider
                .send_frame(&json!({ "v": 1, "t": t, "rid": rid, "p": p }))
                .await;
            let answer = outsider.reply().await;
            assert_eq!(answer["t"], "rpc.response", "{t}: {answer}");
            assert_eq!(answer["rid"], json!(rid), "{t}: {answer}");
            assert_eq!(answer["p"]["ok"], false, "{t}: {answer}");
            assert_eq!(answer["p"]["code"], "room.not_member", "{t}: {answer}");
            assert!(
                answer["p"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{answer}"
            );
        }
    }
    // None of it reached the room, and the client library reports the same.
    let mut json_good = json_client(&server).await;
    json_good
        .send_message("no-such-room", "inc", json!({}))
        .expect("sent");
    let event = json_good
        .wait_for_event(|e| matches!(e, Event::Error { .. }), WAIT)
        .await
        .expect("an error event");
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
    let err = json_good
        .leave("no-such-room")
        .await
        .expect_err("not a member");
    assert_eq!(err.code(), Some(ErrorCode::RoomNotMember), "{err}");
    good.send_message(room, "inc", json!({})).expect("sent");
    let state = good
        .wait_for_state(room, |s| s["counter"] == 1, WAIT)
        .await
        .expect("the good inc lands");
    assert_eq!(state, json!({ "counter": 1 }));
    let summary = server.runtime.rooms();
    assert_eq!(
        summary.len(),
        1,
        "no room was created by the outsider: {summary:?}"
    );
    assert_eq!(summary[0].clients, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_twenty_protocol_errors_close_the_connection() {
    let server = TestServer::start().await;
    let room = "strict";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    // Errors outside protocol.* do not count towards the limit.
    for i in 0..30 {
        let frame = json!({ "v": 1, "t": "room.message", "rid": i, "room": "elsewhere",
                            "p": { "type": "inc" } });
        hostile.send_frame(&frame).await;
        hostile
            .expect_error("room.not_member", &RidIs::Echoed(json!(i)), "not a member")
            .await;
    }
    // Every protocol.* code counts: 20 are answered and the connection stays.
    let kinds: [(&str, &str); 4] = [
        (
            r#"{"v":1,"t":"room.message","rid":"k","room":"strict""#,
            BAD,
        ),
        (r#"{"v":1,"t":"no.such.type","rid":"k"}"#, UNKNOWN),
        (r#"{"v":9,"t":"ping","rid":"k"}"#, VERSION),
        (r#"{"v":1,"t":"pong","rid":"k","p":{}}"#, UNKNOWN),
    ];
    for i in 0..20 {
        let (frame, code) = kinds[i % kinds.len()];
        hostile.send(text(frame)).await;
        good.send_message(room, "inc", json!({})).expect("sent");
        let rid = if code == BAD {
            RidIs::EchoedIfAny(json!("k"))
        } else {
            echoed("k")
        };
        hostile
            .expect_error(code, &rid, &format!("protocol error {}", i + 1))
            .await;
    }
    hostile.ping("twenty-is-fine").await;
    // The 21st is answered, then the connection closes.
    let big = format!(
        r#"{{"v":1,"t":"ping","p":{{"pad":"{}"}}}}"#,
        "x".repeat(70 << 10)
    );
    hostile.send(text(big)).await;
    let last = frames_until_closed(&mut hostile.ws).await;
    let errors: Vec<&Value> = last.iter().filter(|f| f["t"] == "error").collect();
    assert_eq!(
        errors.len(),
        1,
        "exactly the last error before the close: {last:?}"
    );
    assert_error(
        errors[0],
        TOO_LARGE,
        &RidIs::Absent,
        "the 21st protocol error",
    );
    assert!(
        last.iter()
            .all(|f| f["t"] == "error" || f["t"] == "state.patch"),
        "{last:?}"
    );
    // The room and the good client go on.
    good.send_message(room, "inc", json!({})).expect("sent");
    let state = good
        .wait_for_state(room, |s| s["counter"] == 21, WAIT)
        .await
        .expect("the good client keeps working");
    assert_eq!(state, json!({ "counter": 21 }));
}

/// Sends `first` (and then `then`, unread) on a fresh connection and returns
/// every frame the server sent before closing it.
async fn refused_opening(server: &TestServer, first: Message, then: Option<Message>) -> Vec<Value> {
    let mut ws = open_ws(server).await;
    ws.send(first).await.expect("first frame sent");
    if let Some(then) = then {
        // The server may already have closed: either way nothing must answer it.
        let _ = ws.send(then).await;
    }
    frames_until_closed(&mut ws).await
}

/// Expects exactly one `error` with `code` (and `rid`) before the close.
fn assert_refused(frames: &[Value], code: &str, rid: &RidIs, what: &str) {
    assert_eq!(
        frames.len(),
        1,
        "{what}: one error, then the close: {frames:?}"
    );
    assert_error(&frames[0], code, rid, what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_frame_that_is_not_a_handshake_is_refused_and_closed() {
    let server = TestServer::start().await;
    let good = good_client(&server, "opening").await;
    let ping = json!({ "v": 1, "t": "ping", "rid": "x-1", "p": {} }).to_string();
    let frames = refused_opening(&server, text(ping), None).await;
    assert_refused(
        &frames,
        "protocol.handshake_required",
        &echoed("x-1"),
        "a ping first",
    );

    // A request before the handshake: refused, and the handshake that follows
    // is never answered.
    let join = json!({ "v": 1, "t": "room.join_or_create", "rid": "x-2",
                       "p": { "room_type": "counter", "room": "opening" } })
    .to_string();
    let frames = refused_opening(
        &server,
        text(join),
        Some(text(handshake(json!(["json"]), "h"))),
    )
    .await;
    assert_refused(
        &frames,
        "protocol.handshake_required",
        &echoed("x-2"),
        "a join first",
    );

    for (what, first) in [
        ("not JSON", text("hello")),
        ("a JSON array", text(r#"[{"v":1,"t":"handshake"}]"#)),
        ("an object that is no frame", text(r#"{"hello":"world"}"#)),
        (
            "a MessagePack handshake",
            Message::Binary(mp(&json!({"v":1,"codecs":["json"],"project_id":PROJECT})).into()),
        ),
        ("an empty frame", text("")),
    ] {
        let frames = refused_opening(&server, first, None).await;
        assert_refused(&frames, "protocol.handshake_required", &RidIs::Absent, what);
    }

    // Malformed handshakes close too (docs/protocol.md §3, §7).
    let cases = [
        (
            "v is 2",
            json!({"v":2,"t":"handshake","rid":"y-1","p":{"codecs":["json"],"project_id":PROJECT}}),
            "protocol.unsupported_version",
        ),
        (
            "p.v is 3",
            json!({"v":1,"t":"handshake","rid":"y-2","p":{"v":3,"codecs":["json"],"project_id":PROJECT}}),
            "protocol.unsupported_version",
        ),
        (
            "no project_id",
            json!({"v":1,"t":"handshake","rid":"y-3","p":{"codecs":["json"]}}),
            BAD,
        ),
        (
            "codecs is a string",
            json!({"v":1,"t":"handshake","rid":"y-4","p":{"codecs":"json","project_id":PROJECT}}),
            BAD,
        ),
        (
            "project_id with bad characters",
            json!({"v":1,"t":"handshake","rid":"y-5","p":{"codecs":["json"],"project_id":"no spaces"}}),
            BAD,
        ),
        (
            "no common codec",
            json!({"v":1,"t":"handshake","rid":"y-6","p":{"codecs":["cbor","JSON"],"project_id":PROJECT}}),
            "protocol.no_common_codec",
        ),
        (
            "empty codec list",
            json!({"v":1,"t":"handshake","rid":"y-7","p":{"codecs":[],"project_id":PROJECT}}),
            "protocol.no_common_codec",
        ),
    ];
    for (what, frame, code) in cases {
        let rid = frame["rid"].clone();
        let frames = refused_opening(&server, text(frame.to_string()), None).await;
        assert_refused(&frames, code, &RidIs::Echoed(rid), what);
    }
    let bare = json!({ "v": 1, "codecs": ["cbor"], "project_id": PROJECT }).to_string();
    let frames = refused_opening(&server, text(bare), None).await;
    assert_refused(
        &frames,
        "protocol.no_common_codec",
        &RidIs::Absent,
        "bare, no common codec",
    );

    let big = json!({ "v": 1, "t": "handshake",
                      "p": { "codecs": ["json"], "project_id": PROJECT, "token": "x".repeat(70 << 10) } })
    .to_string();
    let frames = refused_opening(&server, text(big), None).await;
    assert_refused(
        &frames,
        TOO_LARGE,
        &RidIs::Absent,
        "a handshake over 64 KiB",
    );

    // None of it touched the room; the server still takes handshakes.
    good.send_message("opening", "inc", json!({}))
        .expect("sent");
    good.wait_for_state("opening", |s| s["counter"] == 1, WAIT)
        .await
        .expect("the good client keeps working");
    Raw::connect(&server, "json").await.ping("fine").await;
    assert!(
        server
            .metrics_text()
            .contains("arbiter_handshakes_total{result=\"rejected\"}")
    );
}

/// RFC 6455 control frames are not protocol frames: a WebSocket ping before
/// the handshake (keepalive in some client stacks) must not be taken for the
/// first frame (PROTOCOL.md §1, §3: a frame is one WebSocket *message*).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_ping_before_the_handshake_is_not_the_first_frame() {
    let server = TestServer::start().await;
    let mut ws = open_ws(&server).await;
    ws.send(Message::Ping(b"keepalive".to_vec().into()))
        .await
        .expect("ping sent");
    let _ = ws.send(text(handshake(json!(["json"]), "h-ping"))).await;
    match next_frame(&mut ws).await {
        Got::Frame(ok) => {
            assert_eq!(ok["t"], "handshake.ok", "{ok}");
            assert_eq!(ok["rid"], "h-ping", "{ok}");
        }
        Got::Closed(why) => panic!(
            "the server closed the connection after a WebSocket ping sent before the handshake ({why})"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_frame_fails_only_that_connection() {
    let server = TestServer::start().await;
    let room = "utf8";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    // A text message whose payload is not UTF-8: tungstenite will not build
    // one, so the frame is written raw.
    let mut payload = format!(r#"{{"v":1,"t":"room.message","rid":"u-1","room":"{room}","p":{{"type":"inc","data":{{"by":1000,"s":""#).into_bytes();
    payload.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    payload.extend_from_slice(br#""}}}"#);
    let frame = Frame::message(payload, OpCode::Data(Data::Text), true);
    hostile.send(Message::Frame(frame)).await;
    // RFC 6455 §8.1 makes the server fail the WebSocket connection; the
    // protocol's answer would be protocol.bad_frame (docs/protocol.md §4).
    // Either is allowed by PROTOCOL.md §9 ("an error frame or a closed
    // connection"); what is not allowed is accepting it.
    if let Some(error) = first_error_or_close(&mut hostile.ws).await {
        assert_error(&error, BAD, &RidIs::Absent, "invalid UTF-8 in a text frame");
        hostile.ping("after-utf8").await;
    }
    good.send_message(room, "inc", json!({})).expect("sent");
    let state = good
        .wait_for_state(room, |s| s["counter"] == 1, WAIT)
        .await
        .expect("the good client keeps working");
    assert_eq!(state, json!({ "counter": 1 }));
}

/// The first answer (state and presence skipped), or `None` on a close.
async fn first_error_or_close(ws: &mut Ws) -> Option<Value> {
    loop {
        match next_frame(ws).await {
            Got::Frame(f) => {
                let t = f["t"].as_str().unwrap_or_default();
                if !(t.starts_with("state.") || t.starts_with("presence.")) {
                    return Some(f);
                }
            }
            Got::Closed(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_huge_ones_close_the_connection() {
    let server = TestServer::start().await;
    let room = "sizes";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    // Just above 64 KiB: protocol.too_large, connection kept (docs §10).
    let pad = "x".repeat((64 << 10) + 1);
    let frame = json!({ "v": 1, "t": "room.message", "rid": "big", "room": room,
                        "p": { "type": "inc", "data": { "by": 1000, "pad": pad } } });
    hostile.send(text(frame.to_string())).await;
    hostile
        .expect_error(
            TOO_LARGE,
            &RidIs::EchoedIfAny(json!("big")),
            "just over 64 KiB",
        )
        .await;
    hostile.ping("after-64k").await;
    // Exactly at the limit is not too large: a valid frame of 65,536 bytes
    // (three strings, each under the 32 KiB string limit).
    let head = r#"{"v":1,"t":"ping","rid":"at-limit","p":{"ts":7,"a":""#;
    let (mid_b, mid_c, tail) = (r#"","b":""#, r#"","c":""#, r#""}}"#);
    let fill = (64 << 10) - head.len() - mid_b.len() - mid_c.len() - tail.len();
    let (a, b) = (fill / 3, fill / 3);
    let c = fill - a - b;
    let exact = format!(
        "{head}{}{mid_b}{}{mid_c}{}{tail}",
        "y".repeat(a),
        "y".repeat(b),
        "y".repeat(c)
    );
    assert_eq!(exact.len(), 64 << 10);
    hostile.send(text(exact)).await;
    let pong = hostile.reply().await;
    assert_eq!(
        pong["t"], "pong",
        "a frame of exactly 64 KiB is accepted: {pong}"
    );
    assert_eq!(pong["rid"], "at-limit");
    // Above 1 MiB (16 × the limit, docs §10): the connection is closed.
    let huge = format!(
        r#"{{"v":1,"t":"ping","p":{{"pad":"{}"}}}}"#,
        "z".repeat(2 << 20)
    );
    let _ = hostile.try_send(text(huge)).await;
    let last = frames_until_closed(&mut hostile.ws).await;
    assert!(
        last.iter()
            .all(|f| f["t"] == "state.patch" || f["t"] == "error"),
        "{last:?}"
    );
    good.send_message(room, "inc", json!({})).expect("sent");
    let state = good
        .wait_for_state(room, |s| s["counter"] == 1, WAIT)
        .await
        .expect("the good client keeps working");
    assert_eq!(state, json!({ "counter": 1 }));
}

/// The probe after a flood: pings until one is answered by a pong. Returns
/// how many `rate.limited` errors came before that pong, minus those that
/// answered the probes themselves (every probe before the answered one).
async fn rate_limited_before_probe(raw: &mut Raw) -> usize {
    let mut limited = 0usize;
    let mut probes = 0usize;
    let give_up = tokio::time::Instant::now() + 3 * WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "no probe answered after {probes} tries"
        );
        probes += 1;
        let rid = format!("probe-{probes}");
        raw.send_frame(&json!({ "v": 1, "t": "ping", "rid": rid, "p": {} }))
            .await;
        // Wait for this probe's pong for a while, counting rate.limited
        // errors; if it does not come the probe itself was limited: send
        // another (the reply order tells which error answered what).
        let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
        loop {
            let next = tokio::time::timeout_at(deadline, raw.reply()).await;
            let Ok(frame) = next else { break };
            match frame["t"].as_str() {
                Some("pong") => {
                    let n: usize = frame["rid"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("probe-"))
                        .and_then(|n| n.parse().ok())
                        .expect("a probe's rid");
                    return limited
                        .checked_sub(n - 1)
                        .expect("every probe before the answered one was limited");
                }
                Some("error") => {
                    assert_error(&frame, "rate.limited", &RidIs::Absent, "flood");
                    limited += 1;
                }
                _ => panic!("unexpected frame during a flood: {frame}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_and_limited_frames_change_nothing() {
    let server = TestServer::start().await;
    let room = "flood";
    let good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    // 1,000 valid incs of 1,000 written at once (200 burst, 100/s): those over
    // the limit are answered rate.limited and dropped; the others count.
    const FLOOD: usize = 1000;
    let inc = json!({ "v": 1, "t": "room.message", "room": room,
                      "p": { "type": "inc", "data": { "by": 1000 } } })
    .to_string();
    for _ in 0..FLOOD {
        hostile.ws.feed(text(inc.clone())).await.expect("fed");
    }
    hostile.ws.flush().await.expect("flushed");
    let mut incs = 0i64;
    for _ in 0..10 {
        good.send_message(room, "inc", json!({ "by": 1 }))
            .expect("sent");
        incs += 1;
    }
    let limited = rate_limited_before_probe(&mut hostile).await;
    assert!(limited >= 1, "1,000 frames at once are rate limited");
    // The burst of 200 is honoured (less the token the join took).
    assert!(limited <= FLOOD - 199, "{limited} of {FLOOD} limited");
    let accepted = i64::try_from(FLOOD - limited).expect("small");
    let want = incs + 1000 * accepted;
    let state = good
        .wait_for_state(room, |s| s["counter"] == want, WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "counter never reached {want}: {e}; now {:?}",
                good.state(room)
            )
        });
    assert_eq!(state, json!({ "counter": want }));
    // The server is fine: new sessions work, and the limit is in the metrics.
    let newcomer = server.client(PROJECT).await;
    newcomer
        .join_or_create("counter", Some(room), None)
        .await
        .expect("joins");
    assert_eq!(newcomer.state(room), Some(json!({ "counter": want })));
    let metrics = server.metrics_text();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("arbiter_errors_sent_total{code=\"rate.limited\"}"))
        .unwrap_or_else(|| panic!("rate.limited errors are counted:\n{metrics}"));
    let counted: usize = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(counted >= limited, "{line} vs {limited}");
    drop(hostile);
}

/// Reads frames until the `rpc.response` with `rid`; returns it and the
/// frames before it.
async fn until_response(raw: &mut Raw, rid: &Value) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        match raw.next().await {
            Got::Frame(f) if f["t"] == "rpc.response" && &f["rid"] == rid => return (f, before),
            Got::Frame(f) => before.push(f),
            Got::Closed(why) => panic!("closed while waiting for {rid}: {why}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_formed_lies_and_wrong_requests_change_no_room_state() {
    let server = TestServer::start().await;
    let room = "lies";
    let mut good = good_client(&server, room).await;
    let mut hostile = Raw::connect(&server, "json").await;
    hostile.join_counter(room).await;
    for _ in 0..3 {
        good.send_message(room, "inc", json!({})).expect("sent");
    }
    good.wait_for_state(room, |s| s["counter"] == 3, WAIT)
        .await
        .expect("three incs");
    let seq = good.seq(room).expect("a replica").0;

    // An ack far beyond the room's seq, with a wrong checksum: ignored (§10).
    let ack = json!({ "v": 1, "t": "state.ack",
                      "p": { "room": room, "seq": u64::MAX, "checksum": "0000000000000000" } });
    hostile.send_frame(&ack).await;
    // Joining again (integer rid): ok, not created, a fresh snapshot (§5, §10).
    let join = json!({ "v": 1, "t": "room.join_or_create", "rid": 18,
                       "p": { "room_type": "counter", "room": room, "options": { "counter": 1000 } } });
    hostile.send_frame(&join).await;
    let (ok, before) = until_response(&mut hostile, &json!(18)).await;
    assert!(
        before.iter().all(|f| f["t"] != "state.snapshot"),
        "the far ack was ignored: {before:?}"
    );
    assert_eq!(
        ok["p"],
        json!({ "ok": true, "room": room, "room_type": "counter", "created": false })
    );
    let snapshot = loop {
        match hostile.next().await {
            Got::Frame(f) if f["t"] == "state.snapshot" => break f,
            Got::Frame(_) => {}
            Got::Closed(why) => panic!("{why}"),
        }
    };
    assert_eq!(
        snapshot["p"]["state"],
        json!({ "counter": 3 }),
        "{snapshot}"
    );
    assert_eq!(snapshot["p"]["seq"], seq, "{snapshot}");

    // Wrong requests get failed responses, not errors.
    for (rid, p, code) in [
        (
            "w-1",
            json!({ "room_type": "arena", "room": room }),
            "room.not_found",
        ),
        (
            "w-2",
            json!({ "room_type": "no-such-type" }),
            "room.unknown_type",
        ),
        (
            "w-3",
            json!({ "room_type": "no-such-type", "room": room }),
            "room.unknown_type",
        ),
    ] {
        hostile
            .send_frame(&json!({ "v": 1, "t": "room.join_or_create", "rid": rid, "p": p }))
            .await;
        let (answer, _) = until_response(&mut hostile, &json!(rid)).await;
        assert_eq!(answer["p"]["ok"], false, "{answer}");
        assert_eq!(answer["p"]["code"], code, "{answer}");
    }

    // Presence is not room state: the others hear it, the document is as it was.
    let presence = json!({ "v": 1, "t": "presence.set", "rid": "pr",
                           "p": { "room": room, "state": { "counter": 1000 } } });
    hostile.send_frame(&presence).await;
    let (answer, _) = until_response(&mut hostile, &json!("pr")).await;
    assert_eq!(answer["p"], json!({ "ok": true }));
    good.wait_for_event(
        |e| matches!(e, Event::PresenceDiff(d) if d.joins.values().any(|m| m.state == json!({ "counter": 1000 }))),
        WAIT,
    )
    .await
    .expect("the good client hears the presence");

    // An ack at the current seq with a wrong checksum earns a fresh snapshot.
    let ack = json!({ "v": 1, "t": "state.ack",
                      "p": { "room": room, "seq": seq, "checksum": "0000000000000000" } });
    hostile.send_frame(&ack).await;
    let snapshot = loop {
        match hostile.next().await {
            Got::Frame(f) if f["t"] == "state.snapshot" => break f,
            Got::Frame(f) => assert_ne!(f["t"], "error", "{f}"),
            Got::Closed(why) => panic!("{why}"),
        }
    };
    assert_eq!(
        snapshot["p"]["state"],
        json!({ "counter": 3 }),
        "{snapshot}"
    );
    assert_eq!(snapshot["p"]["seq"], seq, "{snapshot}");

    good.send_message(room, "inc", json!({})).expect("sent");
    let state = good
        .wait_for_state(room, |s| s["counter"] != 3, WAIT)
        .await
        .expect("the good inc lands");
    assert_eq!(state, json!({ "counter": 4 }));
    assert_eq!(good.seq(room).map(|s| s.0), Some(seq + 1));
}
