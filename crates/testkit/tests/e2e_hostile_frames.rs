//! Hostile frames (PROTOCOL.md §4, §9; docs/protocol.md §4, §8, §10): malformed
//! envelopes, JSON bombs, broken MessagePack, wrong frame kinds, invalid UTF-8
//! and oversized messages, each answered with its exact error while a
//! well-behaved client in the same room keeps an exact state.

mod hostile;

use hostile::*;

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
