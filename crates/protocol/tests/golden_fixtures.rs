//! Golden fixtures (tests/fixtures/<type>.json): every frame decodes to the
//! typed value below, re-encodes to the same JSON, and round-trips through
//! MessagePack. Other clients (TypeScript, load generators) test against the
//! same files.

mod common;

use std::collections::BTreeSet;

use arbiter_protocol::*;
use arbiter_state::PatchOp;
use serde_json::{Value, json};

use common::{FixtureFrame, fixture_files, fixture_frames};

enum Expected {
    Handshake(Handshake),
    Client(ClientFrame),
    Server(ServerFrame),
}

fn room(s: &str) -> RoomId {
    RoomId::new(s).expect("valid room id")
}

fn sid(s: &str) -> SessionId {
    SessionId::new(s).expect("valid session id")
}

fn ticket(s: &str) -> TicketId {
    TicketId::new(s).expect("valid ticket id")
}

fn checksum(s: &str) -> Checksum {
    Checksum::parse(s).expect("valid checksum")
}

fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn member(user: &str, state: Value) -> PresenceMember {
    PresenceMember {
        user_id: user.into(),
        state,
    }
}

fn rpc(rid: impl Into<Rid>, r: RpcResponse) -> Expected {
    Expected::Server(ServerFrame::new(r).with_rid(Some(rid.into())))
}

fn c(frame: ClientFrame) -> Expected {
    Expected::Client(frame)
}

fn s(frame: ServerFrame) -> Expected {
    Expected::Server(frame)
}

fn handshake(rid: Option<&str>, codecs: &[&str], resume: bool) -> Expected {
    Expected::Handshake(Handshake {
        rid: rid.map(Rid::from),
        codecs: codecs.iter().map(|c| c.to_string()).collect(),
        project_id: "demo".into(),
        token: Some("dev-token".into()),
        session_id: resume.then(|| sid("s_8f2k")),
        resume_token: resume.then(|| "r_3b9x".into()),
    })
}

fn handshake_ok(codec: Codec, resumed: bool, quic: bool) -> HandshakeOk {
    HandshakeOk {
        codec,
        session_id: sid("s_8f2k"),
        resume_token: "r_3b9x".into(),
        resumed,
        heartbeat_ms: 15000,
        quic: quic.then(|| QuicInfo {
            port: 4434,
            cert_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }),
    }
}

/// The typed value of each fixture frame, by (type, name).
fn expected(ty: &str, name: &str) -> Option<Expected> {
    Some(match (ty, name) {
        ("handshake", "start a session") => handshake(None, &["msgpack", "json"], false),
        ("handshake", "resume a session") => handshake(Some("h-1"), &["json"], true),
        ("handshake", "bare form (accepted; encoders send the wrapped form)") => {
            handshake(None, &["msgpack", "json"], false)
        }
        ("handshake.ok", "new session with QUIC offered") => {
            s(ServerFrame::new(handshake_ok(Codec::MsgPack, false, true)))
        }
        ("handshake.ok", "resumed session, no QUIC") => {
            s(
                ServerFrame::new(handshake_ok(Codec::Json, true, false))
                    .with_rid(Some("h-1".into())),
            )
        }
        ("error", "unknown type, rid echoed") => s(ServerFrame::new(ErrorPayload {
            code: ErrorCode::UnknownType,
            reason: "unknown message type \"room.jion\"".into(),
        })
        .with_rid(Some("c-9".into()))),
        ("error", "room.message to a room the session is not in") => {
            s(ServerFrame::new(ErrorPayload {
                code: ErrorCode::RoomNotMember,
                reason: "this session is not a member of room arena-9; join it first".into(),
            })
            .in_room(room("arena-9")))
        }
        ("ping", "heartbeat") => c(ClientFrame::new(Ping {
            ts: Some(1_718_000_000_123u64.into()),
        })),
        ("pong", "heartbeat answer") => s(ServerFrame::new(Pong {
            ts: Some(1_718_000_000_123u64.into()),
            server_ts: 1_718_000_000_150,
        })),
        ("room.join_or_create", "join or create a named room") => {
            c(ClientFrame::new(JoinOrCreate {
                room_type: "arena".into(),
                room: Some(room("arena-1")),
                options: Some(object(json!({ "max_clients": 4 }))),
            })
            .with_rid("c-17"))
        }
        ("room.join_or_create", "any open room of a type, integer rid") => {
            c(ClientFrame::new(JoinOrCreate {
                room_type: "counter".into(),
                room: None,
                options: None,
            })
            .with_rid(18))
        }
        ("room.join_or_create", "room in the envelope (accepted; encoders put it in p.room)") => {
            c(ClientFrame::new(JoinOrCreate {
                room_type: "arena".into(),
                room: Some(room("arena-2")),
                options: None,
            })
            .with_rid("c-19")
            .in_room(room("arena-2")))
        }
        ("room.leave", "leave") => c(ClientFrame::new(LeaveRoom {
            room: room("arena-1"),
        })
        .with_rid("c-20")),
        ("room.list", "rooms of one type") => c(ClientFrame::new(ListRooms {
            room_type: Some("arena".into()),
        })
        .with_rid("c-21")),
        ("room.list", "every room") => c(ClientFrame::new(ListRooms::default()).with_rid("c-22")),
        ("rpc.response", "joined") => rpc(
            "c-17",
            RpcResponse::Ok(RpcOk::Joined(Joined {
                room: room("arena-1"),
                room_type: "arena".into(),
                created: false,
            })),
        ),
        ("rpc.response", "created, integer rid echoed") => rpc(
            18,
            RpcResponse::Ok(RpcOk::Joined(Joined {
                room: room("counter-7"),
                room_type: "counter".into(),
                created: true,
            })),
        ),
        ("rpc.response", "failed") => rpc(
            "c-19",
            RpcResponse::Err {
                code: ErrorCode::RoomFull,
                reason: "room arena-2 is full (8/8)".into(),
            },
        ),
        ("rpc.response", "done (room.leave, presence.set, state.resync)") => {
            rpc("c-20", RpcResponse::Ok(RpcOk::Done))
        }
        ("rpc.response", "room list") => rpc(
            "c-22",
            RpcResponse::Ok(RpcOk::Rooms(vec![
                RoomInfo {
                    room: room("arena-1"),
                    room_type: "arena".into(),
                    clients: 3,
                    max_clients: Some(8),
                    locked: false,
                    metadata: object(json!({ "map": "dunes" })),
                },
                RoomInfo {
                    room: room("counter-7"),
                    room_type: "counter".into(),
                    clients: 12,
                    max_clients: None,
                    locked: false,
                    metadata: Default::default(),
                },
            ])),
        ),
        ("rpc.response", "enqueued") => rpc(
            "c-30",
            RpcResponse::Ok(RpcOk::Enqueued {
                ticket: ticket("t_5rq1"),
            }),
        ),
        ("rpc.response", "dequeued") => {
            rpc("c-31", RpcResponse::Ok(RpcOk::Dequeued { removed: 1 }))
        }
        ("room.message", "a client's move") => c(ClientFrame::new(RoomMessage {
            kind: "move".into(),
            data: json!({ "x": 3.5, "y": -1 }),
        })
        .in_room(room("arena-1"))),
        ("room.message", "room in p.room (accepted; encoders put it in the envelope)") => {
            c(ClientFrame::new(RoomMessage {
                kind: "move".into(),
                data: json!({ "x": 4, "y": 0 }),
            })
            .in_room(room("arena-1")))
        }
        ("room.message", "relayed from a client") => s(ServerFrame::new(ServerRoomMessage {
            kind: "chat".into(),
            data: json!({ "text": "gg" }),
            from: Some(sid("s_q7m1")),
        })
        .in_room(room("arena-1"))),
        ("room.message", "sent by the plugin") => s(ServerFrame::new(ServerRoomMessage {
            kind: "error".into(),
            data: json!({ "reason": "by must be an integer" }),
            from: None,
        })
        .in_room(room("counter-7"))),
        ("room.message.bytes", "a client's binary message") => c(ClientFrame::new(RoomBytes {
            kind: "voice".into(),
            data: vec![0, 1, 2, 3, 4],
        })
        .in_room(room("arena-1"))),
        ("room.message.bytes", "relayed from a client") => s(ServerFrame::new(ServerRoomBytes {
            kind: "voice".into(),
            data: vec![0, 1, 2, 3, 4],
            from: Some(sid("s_q7m1")),
        })
        .in_room(room("arena-1"))),
        ("room.closed", "the server drains") => s(ServerFrame::new(RoomClosed {
            room: room("arena-1"),
            reason: "the server is shutting down".into(),
        })),
        ("presence.set", "set presence") => c(ClientFrame::new(PresenceSet {
            room: room("arena-1"),
            state: json!({ "name": "Ada", "ready": true }),
        })
        .with_rid("c-23")),
        ("presence.state", "full presence on join") => s(ServerFrame::new(PresenceState {
            room: room("arena-1"),
            members: [
                (
                    sid("s_8f2k"),
                    member("u_ada", json!({ "name": "Ada", "ready": true })),
                ),
                (sid("s_q7m1"), member("u_bob", Value::Null)),
            ]
            .into(),
        })),
        ("presence.diff", "one joins, one leaves") => s(ServerFrame::new(PresenceDiff {
            room: room("arena-1"),
            joins: [(sid("s_w2n4"), member("u_cy", Value::Null))].into(),
            leaves: [(sid("s_q7m1"), member("u_bob", Value::Null))].into(),
        })),
        ("state.snapshot", "full state") => s(ServerFrame::new(StateSnapshot {
            state: json!({ "players": { "s_ab": { "x": 0, "y": 0 }, "s_cd": { "x": 1, "y": 1 } } }),
            seq: Seq(41),
            checksum: checksum("33c21154a576dc78"),
        })
        .in_room(room("arena-1"))),
        ("state.patch", "next tick, with checksum") => s(ServerFrame::new(StatePatch {
            seq: Seq(42),
            ops: vec![
                PatchOp::Set {
                    path: "/players/s_ab/x".into(),
                    value: json!(3.5),
                },
                PatchOp::Del {
                    path: "/players/s_cd".into(),
                },
            ],
            checksum: Some(checksum("fdc3f5d3e316b806")),
        })
        .in_room(room("arena-1"))),
        ("state.patch", "without checksum (checksum_every > 1)") => {
            s(ServerFrame::new(StatePatch {
                seq: Seq(43),
                ops: vec![PatchOp::Set {
                    path: "/players/s_ab/y".into(),
                    value: json!(2),
                }],
                checksum: None,
            })
            .in_room(room("arena-1")))
        }
        ("state.ack", "applied up to 43") => c(ClientFrame::new(StateAck {
            room: room("arena-1"),
            seq: Seq(43),
            checksum: Some(checksum("1c1615703ea1c683")),
        })),
        ("state.resync", "checksum mismatch") => c(ClientFrame::new(StateResync {
            room: room("arena-1"),
            reason: Some("checksum".into()),
        })
        .with_rid("c-24")),
        ("matchmaking.enqueue", "with properties and a party") => c(ClientFrame::new(Enqueue {
            room_type: "arena".into(),
            size: 4,
            properties: Some(object(json!({ "region": "eu" }))),
            party: Some("p_77".into()),
        })
        .with_rid("c-30")),
        ("matchmaking.enqueue", "minimal") => c(ClientFrame::new(Enqueue {
            room_type: "tictactoe".into(),
            size: 2,
            properties: None,
            party: None,
        })
        .with_rid("c-32")),
        ("matchmaking.dequeue", "leave one queue") => c(ClientFrame::new(Dequeue {
            room_type: Some("tictactoe".into()),
        })
        .with_rid("c-31")),
        ("match.found", "a seat is reserved") => s(ServerFrame::new(MatchFound {
            room: room("tictactoe-m9"),
            room_type: "tictactoe".into(),
            size: 2,
            participants: vec![sid("s_8f2k"), sid("s_q7m1")],
            ticket: ticket("t_5rq1"),
        })),
        ("match.timeout", "ticket expired") => s(ServerFrame::new(MatchTimeout {
            room_type: "tictactoe".into(),
            ticket: ticket("t_5rq1"),
        })),
        ("session.attach", "attach a QUIC connection") => c(ClientFrame::new(SessionAttach {
            session_id: sid("s_8f2k"),
            resume_token: "r_3b9x".into(),
        })),
        ("session.attach.ok", "attached") => s(ServerFrame::new(SessionAttachOk {})),
        _ => return None,
    })
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

fn msgpack_bytes(v: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(v).expect("serializes")
}

fn check_client(fx: &FixtureFrame, want: &ClientFrame) {
    let limits = Limits::default();
    let got = Codec::Json
        .decode_client(&json_bytes(&fx.frame), &limits)
        .unwrap_or_else(|e| panic!("{} / {}: {e}", fx.ty, fx.name));
    assert_eq!(&got, want, "{} / {}", fx.ty, fx.name);
    // The same maps in MessagePack decode to the same value.
    let from_mp = Codec::MsgPack
        .decode_client(&msgpack_bytes(&fx.frame), &limits)
        .unwrap_or_else(|e| panic!("{} / {} (msgpack): {e}", fx.ty, fx.name));
    assert_eq!(&from_mp, want, "{} / {} (msgpack)", fx.ty, fx.name);
    let mut buf = Vec::new();
    Codec::Json.encode_client(want, &mut buf).expect("encodes");
    if fx.canonical {
        let reencoded: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(reencoded, fx.frame, "{} / {}: re-encoding", fx.ty, fx.name);
    }
    buf.clear();
    Codec::MsgPack
        .encode_client(want, &mut buf)
        .expect("encodes");
    let back = Codec::MsgPack
        .decode_client(&buf, &limits)
        .expect("round trip");
    assert_eq!(&back, want, "{} / {}: msgpack round trip", fx.ty, fx.name);
}

fn check_server(fx: &FixtureFrame, want: &ServerFrame) {
    let limits = Limits::for_server_frames();
    let got = Codec::Json
        .decode_server(&json_bytes(&fx.frame), &limits)
        .unwrap_or_else(|e| panic!("{} / {}: {e}", fx.ty, fx.name));
    assert_eq!(&got, want, "{} / {}", fx.ty, fx.name);
    let from_mp = Codec::MsgPack
        .decode_server(&msgpack_bytes(&fx.frame), &limits)
        .unwrap_or_else(|e| panic!("{} / {} (msgpack): {e}", fx.ty, fx.name));
    assert_eq!(&from_mp, want, "{} / {} (msgpack)", fx.ty, fx.name);
    let mut buf = Vec::new();
    Codec::Json.encode_server(want, &mut buf).expect("encodes");
    if fx.canonical {
        let reencoded: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(reencoded, fx.frame, "{} / {}: re-encoding", fx.ty, fx.name);
    }
    buf.clear();
    Codec::MsgPack
        .encode_server(want, &mut buf)
        .expect("encodes");
    let back = Codec::MsgPack
        .decode_server(&buf, &limits)
        .expect("round trip");
    assert_eq!(&back, want, "{} / {}: msgpack round trip", fx.ty, fx.name);
}

fn check_handshake(fx: &FixtureFrame, want: &Handshake) {
    let got = decode_handshake(&json_bytes(&fx.frame))
        .unwrap_or_else(|e| panic!("{} / {}: {e}", fx.ty, fx.name));
    assert_eq!(&got, want, "{} / {}", fx.ty, fx.name);
    if fx.canonical {
        let mut buf = Vec::new();
        want.encode(&mut buf).expect("encodes");
        let reencoded: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(reencoded, fx.frame, "{} / {}: re-encoding", fx.ty, fx.name);
    }
}

#[test]
fn every_fixture_frame_decodes_reencodes_and_round_trips() {
    let frames = fixture_frames();
    assert!(frames.len() >= MessageType::ALL.len());
    for fx in &frames {
        let ty = MessageType::from_wire(&fx.ty).expect("fixture type is a message type");
        let expected = expected(&fx.ty, &fx.name)
            .unwrap_or_else(|| panic!("no expected value for {} / {}", fx.ty, fx.name));
        match (&expected, fx.direction.as_str()) {
            (Expected::Handshake(h), "client_to_server") => check_handshake(fx, h),
            (Expected::Client(f), "client_to_server") => {
                assert!(ty.direction().from_client(), "{ty} is not sent by clients");
                check_client(fx, f);
            }
            (Expected::Server(f), "server_to_client") => {
                assert!(ty.direction().from_server(), "{ty} is not sent by servers");
                check_server(fx, f);
            }
            _ => panic!("{} / {}: direction does not match", fx.ty, fx.name),
        }
        if let Some(t) = fx.frame.get("t") {
            assert_eq!(t, &json!(fx.ty), "{} / {}: t", fx.ty, fx.name);
        }
    }
}

#[test]
fn every_message_type_has_exactly_one_fixture_file() {
    let files: BTreeSet<String> = fixture_files().into_iter().map(|(stem, _)| stem).collect();
    let types: BTreeSet<String> = MessageType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(files, types);
}

#[test]
fn every_catalog_and_spec_type_has_a_fixture() {
    // The message catalog (seeds/002) and the tables of PROTOCOL.md.
    let catalog = [
        "handshake",
        "handshake.ok",
        "error",
        "room.join_or_create",
        "room.leave",
        "room.list",
        "rpc.response",
        "room.message",
        "room.message.bytes",
        "state.snapshot",
        "state.patch",
        "state.ack",
        "state.resync",
        "matchmaking.enqueue",
        "matchmaking.dequeue",
        "match.found",
        "ping",
        "pong",
        "room.closed",
        "presence.set",
        "presence.state",
        "presence.diff",
        "session.attach",
        "session.attach.ok",
    ];
    let files: BTreeSet<String> = fixture_files().into_iter().map(|(stem, _)| stem).collect();
    for ty in catalog {
        assert!(
            MessageType::from_wire(ty).is_some(),
            "{ty} is not a MessageType"
        );
        assert!(files.contains(ty), "{ty} has no fixture");
    }
}

#[test]
fn fixture_names_are_unique_per_type() {
    let mut seen = BTreeSet::new();
    for fx in fixture_frames() {
        assert!(
            seen.insert((fx.ty.clone(), fx.name.clone())),
            "{} / {}",
            fx.ty,
            fx.name
        );
    }
}
