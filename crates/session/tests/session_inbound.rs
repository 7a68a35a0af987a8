//! The inbound pipeline after the handshake: rate limit, heartbeat, codec and
//! transport checks, decode errors with their rid, ping, and closing after too
//! many protocol errors.

use std::time::{Duration, Instant};

use arbiter_protocol::{
    ClientFrame, ClientMessage, Codec, ErrorCode, Limits, Ping, Rid, ServerFrame, ServerMessage,
};
use arbiter_session::{Inbound, InboundOutcome, Liveness, SessionConfig, TokenBucket};
use proptest::prelude::*;

const PING_JSON: &[u8] = br#"{"v":1,"t":"ping","p":{"ts":7}}"#;
const LIST_JSON: &[u8] = br#"{"v":1,"t":"room.list","rid":"c-1","p":{"room_type":"arena"}}"#;

fn inbound(codec: Codec, config: &SessionConfig, now: Instant) -> Inbound {
    Inbound::new(codec, Limits::default(), config, now)
}

/// The error code and rid of a reply; panics on a routed frame or a non-error.
fn error_of(outcome: &InboundOutcome) -> (ErrorCode, Option<Rid>) {
    match outcome {
        InboundOutcome::Reply(f) | InboundOutcome::ReplyAndClose(f) => match &f.msg {
            ServerMessage::Error(e) => (e.code, f.rid.clone()),
            other => panic!("expected an error, got {other:?}"),
        },
        InboundOutcome::Frame(f) => panic!("expected an error, got frame {f:?}"),
    }
}

fn msgpack(frame: &ClientFrame) -> Vec<u8> {
    let mut buf = Vec::new();
    Codec::MsgPack
        .encode_client(frame, &mut buf)
        .expect("encodes");
    buf
}

#[test]
fn token_bucket_allows_a_burst_then_refills() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(100, 200, t0);
    let passed = (0..250).filter(|_| bucket.try_take(t0)).count();
    assert_eq!(passed, 200);
    // Half a second at 100/s refills 50.
    let t1 = t0 + Duration::from_millis(500);
    assert_eq!((0..100).filter(|_| bucket.try_take(t1)).count(), 50);
}

#[test]
fn inbound_rate_limits_then_recovers() {
    let t0 = Instant::now();
    let config = SessionConfig {
        rate_per_sec: 10,
        rate_burst: 3,
        ..SessionConfig::default()
    };
    let mut inb = inbound(Codec::Json, &config, t0);
    for _ in 0..3 {
        assert!(matches!(
            inb.handle(LIST_JSON, true, t0, 0),
            InboundOutcome::Frame(_)
        ));
    }
    let limited = inb.handle(LIST_JSON, true, t0, 0);
    assert_eq!(error_of(&limited), (ErrorCode::RateLimited, None));
    assert!(matches!(limited, InboundOutcome::Reply(_)));
    assert_eq!(inb.protocol_errors(), 0);
    // 100 ms at 10/s is one more frame.
    let t1 = t0 + Duration::from_millis(100);
    assert!(matches!(
        inb.handle(LIST_JSON, true, t1, 0),
        InboundOutcome::Frame(_)
    ));
    assert_eq!(
        error_of(&inb.handle(LIST_JSON, true, t1, 0)).0,
        ErrorCode::RateLimited
    );
}

#[test]
fn liveness_deadline_is_twice_the_heartbeat_after_traffic() {
    let t0 = Instant::now();
    let mut l = Liveness::new(Duration::from_secs(15), t0);
    assert_eq!(l.deadline(), t0 + Duration::from_secs(30));
    let t1 = t0 + Duration::from_secs(12);
    l.on_traffic(t1);
    assert_eq!(l.deadline(), t1 + Duration::from_secs(30));
    assert!(!l.is_expired(t0 + Duration::from_secs(41)));
    assert!(l.is_expired(t0 + Duration::from_secs(42)));
}

#[test]
fn ping_gets_pong_with_server_time() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let mut json = inbound(Codec::Json, &config, t0);
    match json.handle(PING_JSON, true, t0, 1_234) {
        InboundOutcome::Reply(ServerFrame {
            msg: ServerMessage::Pong(p),
            rid,
            ..
        }) => {
            assert_eq!(p.ts, Some(7.into()));
            assert_eq!(p.server_ts, 1_234);
            assert_eq!(rid, None);
        }
        other => panic!("expected pong, got {other:?}"),
    }
    let mut mp = inbound(Codec::MsgPack, &config, t0);
    let ping = msgpack(
        &ClientFrame::new(Ping {
            ts: Some(99.into()),
        })
        .with_rid("p-1"),
    );
    match mp.handle(&ping, false, t0, 5) {
        InboundOutcome::Reply(ServerFrame {
            msg: ServerMessage::Pong(p),
            rid,
            ..
        }) => {
            assert_eq!(p.ts, Some(99.into()));
            assert_eq!(p.server_ts, 5);
            assert_eq!(rid, Some(Rid::from("p-1")));
        }
        other => panic!("expected pong, got {other:?}"),
    }
}

#[test]
fn valid_frames_are_routed_in_both_codecs() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let mut json = inbound(Codec::Json, &config, t0);
    match json.handle(LIST_JSON, true, t0, 0) {
        InboundOutcome::Frame(f) => {
            assert!(matches!(f.msg, ClientMessage::RoomList(_)));
            assert_eq!(f.rid, Some(Rid::from("c-1")));
        }
        other => panic!("expected a frame, got {other:?}"),
    }
    let mut mp = inbound(Codec::MsgPack, &config, t0);
    let frame = json.handle(LIST_JSON, true, t0, 0);
    let InboundOutcome::Frame(frame) = frame else {
        panic!("frame")
    };
    assert_eq!(
        mp.handle(&msgpack(&frame), false, t0, 0),
        InboundOutcome::Frame(frame)
    );
    assert_eq!(json.protocol_errors() + mp.protocol_errors(), 0);
}

#[test]
fn transport_must_match_the_codec() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let mut mp = inbound(Codec::MsgPack, &config, t0);
    assert_eq!(
        error_of(&mp.handle(PING_JSON, true, t0, 0)).0,
        ErrorCode::BadFrame
    );
    let mut json = inbound(Codec::Json, &config, t0);
    assert_eq!(
        error_of(&json.handle(PING_JSON, false, t0, 0)).0,
        ErrorCode::BadFrame
    );
    assert_eq!(mp.protocol_errors(), 1);
    assert_eq!(json.protocol_errors(), 1);
}

#[test]
fn garbage_too_large_and_unknown_types_are_protocol_errors() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let mut mp = inbound(Codec::MsgPack, &config, t0);
    assert_eq!(
        error_of(&mp.handle(&[0xc1, 0xff, 0x00], false, t0, 0)).0,
        ErrorCode::BadFrame
    );
    assert_eq!(
        error_of(&mp.handle(&[], false, t0, 0)).0,
        ErrorCode::BadFrame
    );
    // {"v":1,"t":"no.such"} in MessagePack.
    let unknown = b"\x82\xa1v\x01\xa1t\xa7no.such";
    assert_eq!(
        error_of(&mp.handle(unknown, false, t0, 0)).0,
        ErrorCode::UnknownType
    );

    let mut json = inbound(Codec::Json, &config, t0);
    assert_eq!(
        error_of(&json.handle(b"\xff\xfe{", true, t0, 0)).0,
        ErrorCode::BadFrame
    );
    let big = format!(
        r#"{{"v":1,"t":"ping","p":{{"pad":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    assert_eq!(
        error_of(&json.handle(big.as_bytes(), true, t0, 0)).0,
        ErrorCode::TooLarge
    );
    assert_eq!(
        error_of(&json.handle(br#"{"v":1,"t":"no.such","p":{}}"#, true, t0, 0)).0,
        ErrorCode::UnknownType
    );
    assert_eq!(
        error_of(&json.handle(br#"{"v":9,"t":"ping","p":{}}"#, true, t0, 0)).0,
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(mp.protocol_errors(), 3);
    assert_eq!(json.protocol_errors(), 4);
}

#[test]
fn errors_keep_the_frames_rid() {
    let t0 = Instant::now();
    let mut json = inbound(Codec::Json, &SessionConfig::default(), t0);
    let cases: [(&[u8], ErrorCode, Rid); 4] = [
        (br#"{"v":1,"t":"no.such","rid":"c-9","p":{}}"#, ErrorCode::UnknownType, Rid::from("c-9")),
        (br#"{"v":1,"t":"room.leave","rid":5,"p":{}}"#, ErrorCode::BadFrame, Rid::Int(5)),
        (
            br#"{"v":1,"t":"room.join_or_create","rid":"c-10","p":{"room_type":7}}"#,
            ErrorCode::BadFrame,
            Rid::from("c-10"),
        ),
        (
            br#"{"v":1,"t":"session.attach","rid":"a-1","p":{"session_id":"s_1","resume_token":"r"}}"#,
            ErrorCode::BadFrame,
            Rid::from("a-1"),
        ),
    ];
    for (bytes, code, rid) in cases {
        assert_eq!(
            error_of(&json.handle(bytes, true, t0, 0)),
            (code, Some(rid))
        );
    }
}

#[test]
fn too_many_protocol_errors_close_the_connection() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_protocol_errors: 3,
        ..SessionConfig::default()
    };
    let mut json = inbound(Codec::Json, &config, t0);
    for n in 1..=3 {
        let out = json.handle(b"nope", true, t0, 0);
        assert!(
            matches!(out, InboundOutcome::Reply(_)),
            "error {n} should not close"
        );
        assert_eq!(json.protocol_errors(), n);
    }
    // Valid frames in between do not reset the count.
    assert!(matches!(
        json.handle(LIST_JSON, true, t0, 0),
        InboundOutcome::Frame(_)
    ));
    let out = json.handle(br#"{"v":1,"t":"no.such","rid":1,"p":{}}"#, true, t0, 0);
    assert!(matches!(out, InboundOutcome::ReplyAndClose(_)), "{out:?}");
    assert_eq!(error_of(&out), (ErrorCode::UnknownType, Some(Rid::Int(1))));
    assert_eq!(json.protocol_errors(), 4);
}

#[test]
fn content_errors_of_requests_are_rpc_responses_and_do_not_count() {
    let t0 = Instant::now();
    let mut json = inbound(Codec::Json, &SessionConfig::default(), t0);
    let bad_enqueue =
        br#"{"v":1,"t":"matchmaking.enqueue","rid":"m-1","p":{"room_type":"arena","size":0}}"#;
    match json.handle(bad_enqueue, true, t0, 0) {
        InboundOutcome::Reply(f) => {
            assert_eq!(f.rid, Some(Rid::from("m-1")));
            assert!(matches!(f.msg, ServerMessage::RpcResponse(_)), "{f:?}");
        }
        other => panic!("expected an rpc.response, got {other:?}"),
    }
    assert_eq!(json.protocol_errors(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn handle_never_panics(
        frames in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..512), any::<bool>(), 0u64..50),
            1..16,
        ),
        msgpack in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let config = SessionConfig { rate_burst: 8, rate_per_sec: 10, max_protocol_errors: 5, ..SessionConfig::default() };
        let codec = if msgpack { Codec::MsgPack } else { Codec::Json };
        let mut inb = Inbound::new(codec, Limits::default(), &config, t0);
        let mut elapsed = Duration::ZERO;
        for (bytes, is_text, step_ms) in frames {
            elapsed += Duration::from_millis(step_ms);
            let before = inb.protocol_errors();
            let out = inb.handle(&bytes, is_text, t0 + elapsed, 0);
            prop_assert!(inb.protocol_errors() <= before + 1);
            if matches!(out, InboundOutcome::ReplyAndClose(_)) {
                prop_assert!(inb.protocol_errors() > config.max_protocol_errors);
            }
        }
    }
}

#[test]
fn session_pieces_can_move_between_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Inbound>();
    assert_send_sync::<Liveness>();
    assert_send_sync::<TokenBucket>();
    assert_send_sync::<arbiter_session::Verifier>();
    assert_send_sync::<arbiter_session::Accepted>();
    assert_send_sync::<arbiter_session::Rejected>();
}
