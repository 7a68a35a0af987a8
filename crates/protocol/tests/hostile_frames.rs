//! Hostile and malformed input: every case is an error with the right wire code
//! (and the rid when it could be read), never a panic.

use arbiter_protocol::*;
use serde_json::{Value, json};

fn client_json(v: &Value) -> Result<ClientFrame, DecodeError> {
    Codec::Json.decode_client(&serde_json::to_vec(v).expect("json"), &Limits::default())
}

fn client_mp(v: &Value) -> Result<ClientFrame, DecodeError> {
    Codec::MsgPack.decode_client(
        &rmp_serde::to_vec_named(v).expect("msgpack"),
        &Limits::default(),
    )
}

/// Decodes `v` as a client frame in both codecs; both must fail alike.
fn fails(v: Value) -> DecodeError {
    let a = client_json(&v).expect_err("json should fail");
    let b = client_mp(&v).expect_err("msgpack should fail");
    assert_eq!(a.code, b.code, "same code in both codecs for {v}");
    assert_eq!(a.rid, b.rid, "same rid in both codecs for {v}");
    a
}

#[test]
fn wrong_versions_and_types() {
    let e = fails(json!({ "v": 2, "t": "ping", "rid": "a" }));
    assert_eq!(
        (e.code, e.rid),
        (ErrorCode::UnsupportedVersion, Some(Rid::from("a")))
    );
    let e = fails(json!({ "t": "ping" }));
    assert_eq!(e.code, ErrorCode::BadFrame);
    let e = fails(json!({ "v": 1, "t": "room.jion", "rid": 5 }));
    assert_eq!((e.code, e.rid), (ErrorCode::UnknownType, Some(Rid::Int(5))));
    let e = fails(json!({ "v": 1, "t": "pong", "p": { "server_ts": 1 } }));
    assert_eq!(
        e.code,
        ErrorCode::UnknownType,
        "a server type from a client"
    );
    let e = fails(json!({ "v": 1, "t": "handshake", "p": {} }));
    assert_eq!(e.code, ErrorCode::BadFrame, "a second handshake");
    let e = fails(json!({ "v": 1, "t": 7 }));
    assert_eq!(e.code, ErrorCode::BadFrame);
}

#[test]
fn wrong_field_types_keep_the_rid_and_type() {
    let e =
        fails(json!({ "v": 1, "t": "state.ack", "rid": "r", "p": { "room": "a", "seq": "42" } }));
    assert_eq!(e.code, ErrorCode::BadFrame);
    assert_eq!(e.rid, Some(Rid::from("r")));
    assert_eq!(e.message_type, Some(MessageType::StateAck));
    assert!(e.reason.contains("state.ack"), "{}", e.reason);
    let e = fails(json!({ "v": 1, "t": "room.leave", "rid": "r", "p": {} }));
    assert!(e.reason.contains("needs a room"), "{}", e.reason);
    let e = fails(json!({ "v": 1, "t": "room.message", "p": { "type": "move" } }));
    assert!(e.reason.contains("room"), "{}", e.reason);
    let e = fails(json!({ "v": 1, "t": "ping", "p": [1] }));
    assert_eq!(e.code, ErrorCode::BadFrame, "positional payload");
    let e = fails(json!({ "v": 1, "t": "ping", "p": 3 }));
    assert_eq!(e.code, ErrorCode::BadFrame);
    let e = fails(json!({ "v": 1, "t": "ping", "rid": 1.5 }));
    assert_eq!((e.code, e.rid), (ErrorCode::BadFrame, None));
    let e = fails(json!({ "v": 1, "t": "ping", "rid": u64::MAX }));
    assert_eq!(e.code, ErrorCode::BadFrame);
}

#[test]
fn bad_ids_are_bad_frames() {
    for bad in ["", "has space", "slash/room", "ümlaut", &"x".repeat(129)] {
        let e = fails(json!({ "v": 1, "t": "room.leave", "rid": 1, "p": { "room": bad } }));
        assert_eq!(
            (e.code, e.rid.clone()),
            (ErrorCode::BadFrame, Some(Rid::Int(1))),
            "{bad:?}"
        );
        let e = fails(json!({ "v": 1, "t": "room.message", "room": bad, "p": { "type": "m" } }));
        assert_eq!(e.code, ErrorCode::BadFrame, "{bad:?}");
    }
    let e = fails(
        json!({ "v": 1, "t": "state.ack", "p": { "room": "a", "seq": 1, "checksum": "ABCDEF0123456789" } }),
    );
    assert_eq!(e.code, ErrorCode::BadFrame, "uppercase checksum");
    let e = fails(
        json!({ "v": 1, "t": "room.message.bytes", "room": "a", "p": { "type": "m", "data_b64": "AQI" } }),
    );
    assert_eq!(e.code, ErrorCode::BadFrame, "unpadded base64");
}

#[test]
fn conflicting_rooms_are_rejected() {
    let e = fails(json!({ "v": 1, "t": "room.leave", "room": "a", "p": { "room": "b" } }));
    assert!(e.reason.contains("differs"), "{}", e.reason);
    let e = fails(
        json!({ "v": 1, "t": "room.message", "room": "a", "p": { "room": "b", "type": "m" } }),
    );
    assert_eq!(e.code, ErrorCode::BadFrame);
}

#[test]
fn unusable_enqueues_are_matchmaking_invalid_and_answered_by_rpc() {
    for p in [
        json!({ "size": 2 }),
        json!({ "room_type": "arena", "size": 0 }),
        json!({ "room_type": "arena", "size": -1 }),
        json!({ "room_type": "arena", "size": "2" }),
        json!({ "room_type": "", "size": 2 }),
        json!({ "room_type": "arena", "size": 2, "properties": [1] }),
    ] {
        let e = fails(json!({ "v": 1, "t": "matchmaking.enqueue", "rid": "q", "p": p }));
        assert_eq!(e.code, ErrorCode::MatchmakingInvalid, "{p}");
        let reply = e.to_reply();
        assert_eq!(reply.rid, Some(Rid::from("q")));
        assert!(matches!(
            reply.msg,
            ServerMessage::RpcResponse(RpcResponse::Err {
                code: ErrorCode::MatchmakingInvalid,
                ..
            })
        ));
    }
}

#[test]
fn bad_attach_pairs_are_invalid_tokens() {
    let e = fails(
        json!({ "v": 1, "t": "session.attach", "p": { "session_id": "bad id", "resume_token": "r" } }),
    );
    assert_eq!(e.code, ErrorCode::AuthInvalidToken);
    assert!(e.code.closes_connection());
}

#[test]
fn json_bombs_and_oversized_frames() {
    let limits = Limits::default();
    let deep = format!(
        "{{\"v\":1,\"t\":\"ping\",\"p\":{{\"x\":{}1{}}}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let e = Codec::Json
        .decode_client(deep.as_bytes(), &limits)
        .expect_err("deep");
    assert_eq!(
        e.code,
        ErrorCode::TooLarge,
        "100 KB is above the 64 KiB limit"
    );
    let deep = format!(
        "{{\"v\":1,\"t\":\"ping\",\"p\":{{\"x\":{}1{}}}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let e = Codec::Json
        .decode_client(deep.as_bytes(), &limits)
        .expect_err("deep");
    assert_eq!(e.code, ErrorCode::BadFrame);
    assert!(e.reason.contains("deeper"), "{}", e.reason);

    let wide = format!(
        "{{\"v\":1,\"t\":\"room.message\",\"room\":\"a\",\"p\":{{\"type\":\"m\",\"data\":[{}0]}}}}",
        "0,".repeat(5000)
    );
    let e = Codec::Json
        .decode_client(wide.as_bytes(), &limits)
        .expect_err("wide");
    assert!(e.reason.contains("entries"), "{}", e.reason);

    let long = json!({ "v": 1, "t": "room.message", "room": "a", "p": { "type": "m", "data": "x".repeat(40_000) } });
    assert!(fails(long).reason.contains("bytes long"));

    let big = vec![b' '; 64 * 1024 + 1];
    for codec in Codec::SUPPORTED {
        let e = codec.decode_client(&big, &limits).expect_err("big");
        assert_eq!(e.code, ErrorCode::TooLarge);
    }
}

#[test]
fn msgpack_lies_about_lengths() {
    let limits = Limits::default();
    let cases: &[&[u8]] = &[
        &[0xdf, 0xff, 0xff, 0xff, 0xff], // map32 of 4 billion pairs
        &[0x81, 0xa1, b'p', 0xdd, 0xff, 0xff, 0xff, 0xff], // array32 inside
        &[0x81, 0xa1, b'p', 0xdb, 0x7f, 0xff, 0xff, 0xff, b'a'], // str32 of 2 GiB
        &[0x81, 0xa1, b'p', 0xc6, 0x7f, 0xff, 0xff, 0xff], // bin32
        &[0x81, 0xa1, b'p', 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01], // ext32
        &[0x81, 0xa1],
        &[],
        &[0xc1],
    ];
    for bytes in cases {
        let e = Codec::MsgPack
            .decode_client(bytes, &limits)
            .expect_err("lies");
        assert_eq!(e.code, ErrorCode::BadFrame, "{bytes:x?}");
    }
}

#[test]
fn every_prefix_of_a_valid_frame_fails_cleanly() {
    let frame = ClientFrame::new(PresenceSet {
        room: RoomId::new("arena-1").expect("id"),
        state: json!({ "name": "Ada", "tags": ["a", "b"], "n": 1.5 }),
    })
    .with_rid("r-1");
    for codec in Codec::SUPPORTED {
        let mut buf = Vec::new();
        codec.encode_client(&frame, &mut buf).expect("encodes");
        assert_eq!(
            codec.decode_client(&buf, &Limits::default()),
            Ok(frame.clone())
        );
        for cut in 0..buf.len() {
            let e = codec
                .decode_client(&buf[..cut], &Limits::default())
                .expect_err("a prefix is not a frame");
            assert!(e.code.is_protocol(), "{codec} prefix {cut}: {e}");
        }
    }
}

#[test]
fn invalid_utf8_is_rejected_in_both_codecs() {
    let json = b"{\"v\":1,\"t\":\"room.message\",\"room\":\"a\",\"p\":{\"type\":\"\xc3\x28\"}}";
    let e = Codec::Json
        .decode_client(json, &Limits::default())
        .expect_err("utf8");
    assert_eq!(e.code, ErrorCode::BadFrame);
    // {"v":1,"t":<str with bytes c3 28>}
    let mp = [0x82, 0xa1, b'v', 0x01, 0xa1, b't', 0xa2, 0xc3, 0x28];
    let e = Codec::MsgPack
        .decode_client(&mp, &Limits::default())
        .expect_err("utf8");
    assert_eq!(e.code, ErrorCode::BadFrame);
}

#[test]
fn unknown_keys_are_ignored() {
    let frame = client_json(
        &json!({ "v": 1, "t": "ping", "x": [1, { "y": 2 }], "p": { "ts": 1, "extra": true } }),
    )
    .expect("forward compatible");
    assert_eq!(
        frame.msg,
        ClientMessage::Ping(Ping {
            ts: Some(1u64.into())
        })
    );
}

#[test]
fn encoding_a_room_scoped_frame_without_its_room_fails_cleanly() {
    let patch = ServerFrame::new(StatePatch {
        seq: Seq(1),
        ops: vec![],
        checksum: None,
    });
    let mut buf = b"prefix".to_vec();
    let err = Codec::Json
        .encode_server(&patch, &mut buf)
        .expect_err("no room");
    assert_eq!(err.message_type, MessageType::StatePatch);
    assert_eq!(buf, b"prefix", "the buffer is left as it was");

    let leave = ClientFrame::new(LeaveRoom {
        room: RoomId::new("a").expect("id"),
    })
    .in_room(RoomId::new("b").expect("id"));
    assert!(Codec::MsgPack.encode_client(&leave, &mut buf).is_err());
}

#[test]
fn server_frames_are_checked_the_same_way() {
    let limits = Limits::for_server_frames();
    let bad = serde_json::to_vec(
        &json!({ "v": 1, "t": "rpc.response", "rid": 3, "p": { "ok": true, "room": "a" } }),
    )
    .expect("json");
    let e = Codec::Json
        .decode_server(&bad, &limits)
        .expect_err("half a join response");
    assert_eq!((e.code, e.rid), (ErrorCode::BadFrame, Some(Rid::Int(3))));
    let e = Codec::Json
        .decode_server(br#"{"v":1,"t":"ping","p":{}}"#, &limits)
        .expect_err("client type");
    assert_eq!(e.code, ErrorCode::UnknownType);
    let e = Codec::Json
        .decode_server(
            br#"{"v":1,"t":"state.patch","room":"a","p":{"seq":1,"ops":[["set","/a",1]]}}"#,
            &limits,
        )
        .expect_err("positional op");
    assert_eq!(e.code, ErrorCode::BadFrame);
}
