//! Property tests: generated frames round-trip in both codecs, and no input
//! (random bytes, mutated frames, random JSON-shaped frames) panics a decoder
//! or yields a code outside the ones decoding may produce.

use arbiter_protocol::*;
use arbiter_state::PatchOp;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,8}", arb_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn arb_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,24}"
}

fn arb_room() -> impl Strategy<Value = RoomId> {
    arb_id().prop_map(|s| RoomId::new(s).expect("valid"))
}

fn arb_sid() -> impl Strategy<Value = SessionId> {
    arb_id().prop_map(|s| SessionId::new(s).expect("valid"))
}

fn arb_ticket() -> impl Strategy<Value = TicketId> {
    arb_id().prop_map(|s| TicketId::new(s).expect("valid"))
}

fn arb_text() -> impl Strategy<Value = String> {
    ".{0,16}"
}

fn arb_rid() -> impl Strategy<Value = Option<Rid>> {
    prop::option::of(prop_oneof![
        ".{0,16}".prop_map(Rid::Str),
        any::<i64>().prop_map(Rid::Int),
    ])
}

fn arb_checksum() -> impl Strategy<Value = Checksum> {
    any::<u64>().prop_map(Checksum)
}

fn arb_client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        prop::option::of(arb_number()).prop_map(|ts| Ping { ts }.into()),
        (
            arb_text(),
            prop::option::of(arb_room()),
            prop::option::of(arb_object())
        )
            .prop_map(|(room_type, room, options)| JoinOrCreate {
                room_type,
                room,
                options
            }
            .into()),
        arb_room().prop_map(|room| LeaveRoom { room }.into()),
        prop::option::of(arb_text()).prop_map(|room_type| ListRooms { room_type }.into()),
        (arb_text(), arb_value()).prop_map(|(kind, data)| RoomMessage { kind, data }.into()),
        (arb_text(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(kind, data)| RoomBytes { kind, data }.into()),
        (arb_room(), arb_value()).prop_map(|(room, state)| PresenceSet { room, state }.into()),
        (arb_room(), any::<u64>(), prop::option::of(arb_checksum())).prop_map(
            |(room, seq, checksum)| StateAck {
                room,
                seq: Seq(seq),
                checksum
            }
            .into()
        ),
        (arb_room(), prop::option::of(arb_text())).prop_map(|(room, reason)| StateResync {
            room,
            reason
        }
        .into()),
        (
            "[a-z]{1,12}",
            1..=u32::MAX,
            prop::option::of(arb_object()),
            prop::option::of(arb_text())
        )
            .prop_map(|(room_type, size, properties, party)| {
                Enqueue {
                    room_type,
                    size,
                    properties,
                    party,
                }
                .into()
            }),
        prop::option::of(arb_text()).prop_map(|room_type| Dequeue { room_type }.into()),
        (arb_sid(), arb_text()).prop_map(|(session_id, resume_token)| SessionAttach {
            session_id,
            resume_token
        }
        .into()),
    ]
}

/// A client frame as a decoder produces it (rooms normalised).
fn arb_client_frame() -> impl Strategy<Value = ClientFrame> {
    (arb_client_message(), arb_rid(), arb_room(), any::<bool>()).prop_map(
        |(mut msg, rid, room, flag)| {
            let room = if msg.room_in_envelope() {
                Some(room)
            } else if let ClientMessage::RoomJoinOrCreate(j) = &mut msg {
                if flag && j.room.is_none() {
                    j.room = Some(room);
                }
                j.room.clone().filter(|_| flag)
            } else if let Some(in_payload) = msg.payload_room() {
                Some(in_payload.clone()).filter(|_| flag)
            } else {
                Some(room).filter(|_| flag)
            };
            ClientFrame { rid, room, msg }
        },
    )
}

fn arb_member() -> impl Strategy<Value = PresenceMember> {
    (arb_text(), arb_value()).prop_map(|(user_id, state)| PresenceMember { user_id, state })
}

fn arb_members() -> impl Strategy<Value = std::collections::BTreeMap<SessionId, PresenceMember>> {
    prop::collection::btree_map(arb_sid(), arb_member(), 0..3)
}

fn arb_op() -> impl Strategy<Value = PatchOp> {
    prop_oneof![
        ("(/[a-z0-9_]{0,6}){0,4}", arb_value())
            .prop_map(|(path, value)| PatchOp::Set { path, value }),
        "(/[a-z0-9_]{0,6}){0,4}".prop_map(|path| PatchOp::Del { path }),
    ]
}

fn arb_rpc() -> impl Strategy<Value = RpcResponse> {
    let info = (
        arb_room(),
        arb_text(),
        any::<u32>(),
        prop::option::of(any::<u32>()),
        any::<bool>(),
        arb_object(),
    )
        .prop_map(
            |(room, room_type, clients, max_clients, locked, metadata)| RoomInfo {
                room,
                room_type,
                clients,
                max_clients,
                locked,
                metadata,
            },
        );
    prop_oneof![
        Just(RpcResponse::Ok(RpcOk::Done)),
        (arb_room(), arb_text(), any::<bool>()).prop_map(|(room, room_type, created)| {
            RpcResponse::Ok(RpcOk::Joined(Joined {
                room,
                room_type,
                created,
            }))
        }),
        prop::collection::vec(info, 0..3).prop_map(|r| RpcResponse::Ok(RpcOk::Rooms(r))),
        arb_ticket().prop_map(|ticket| RpcResponse::Ok(RpcOk::Enqueued { ticket })),
        any::<u32>().prop_map(|removed| RpcResponse::Ok(RpcOk::Dequeued { removed })),
        (prop::sample::select(ErrorCode::ALL), arb_text())
            .prop_map(|(code, reason)| RpcResponse::Err { code, reason }),
    ]
}

fn arb_server_message() -> impl Strategy<Value = ServerMessage> {
    let quic = prop::option::of(
        (any::<u16>(), "[0-9a-f]{64}")
            .prop_map(|(port, cert_sha256)| QuicInfo { port, cert_sha256 }),
    );
    prop_oneof![
        (
            prop::sample::select(Codec::SUPPORTED.to_vec()),
            arb_sid(),
            arb_text(),
            any::<bool>(),
            any::<u32>(),
            quic
        )
            .prop_map(
                |(codec, session_id, resume_token, resumed, heartbeat_ms, quic)| {
                    HandshakeOk {
                        codec,
                        session_id,
                        resume_token,
                        resumed,
                        heartbeat_ms,
                        quic,
                    }
                    .into()
                }
            ),
        (prop::sample::select(ErrorCode::ALL), arb_text())
            .prop_map(|(code, reason)| ErrorPayload { code, reason }.into()),
        arb_rpc().prop_map(ServerMessage::from),
        (prop::option::of(arb_number()), any::<u64>()).prop_map(|(ts, server_ts)| Pong {
            ts,
            server_ts
        }
        .into()),
        (arb_text(), arb_value(), prop::option::of(arb_sid()))
            .prop_map(|(kind, data, from)| ServerRoomMessage { kind, data, from }.into()),
        (
            arb_text(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::option::of(arb_sid())
        )
            .prop_map(|(kind, data, from)| ServerRoomBytes { kind, data, from }.into()),
        (arb_room(), arb_text()).prop_map(|(room, reason)| RoomClosed { room, reason }.into()),
        (arb_room(), arb_members())
            .prop_map(|(room, members)| PresenceState { room, members }.into()),
        (arb_room(), arb_members(), arb_members()).prop_map(|(room, joins, leaves)| PresenceDiff {
            room,
            joins,
            leaves
        }
        .into()),
        (arb_object(), any::<u64>(), arb_checksum()).prop_map(|(state, seq, checksum)| {
            StateSnapshot {
                state: Value::Object(state),
                seq: Seq(seq),
                checksum,
            }
            .into()
        }),
        (
            any::<u64>(),
            prop::collection::vec(arb_op(), 0..8),
            prop::option::of(arb_checksum())
        )
            .prop_map(|(seq, ops, checksum)| StatePatch {
                seq: Seq(seq),
                ops,
                checksum
            }
            .into()),
        (
            arb_room(),
            arb_text(),
            any::<u32>(),
            prop::collection::vec(arb_sid(), 0..4),
            arb_ticket()
        )
            .prop_map(|(room, room_type, size, participants, ticket)| {
                MatchFound {
                    room,
                    room_type,
                    size,
                    participants,
                    ticket,
                }
                .into()
            }),
        (arb_text(), arb_ticket()).prop_map(|(room_type, ticket)| MatchTimeout {
            room_type,
            ticket
        }
        .into()),
        Just(SessionAttachOk {}.into()),
    ]
}

fn arb_server_frame() -> impl Strategy<Value = ServerFrame> {
    (arb_server_message(), arb_rid(), arb_room(), any::<bool>()).prop_map(
        |(msg, rid, room, flag)| {
            let room = if msg.room_in_envelope() {
                Some(room)
            } else if let Some(in_payload) = msg.payload_room() {
                Some(in_payload.clone()).filter(|_| flag)
            } else {
                Some(room).filter(|_| flag)
            };
            ServerFrame { rid, room, msg }
        },
    )
}

fn arb_handshake() -> impl Strategy<Value = Handshake> {
    (
        arb_rid(),
        prop::collection::vec("[a-z]{0,8}", 0..4),
        arb_text(),
        prop::option::of(arb_text()),
        prop::option::of(arb_sid()),
        prop::option::of(arb_text()),
    )
        .prop_map(
            |(rid, codecs, project_id, token, session_id, resume_token)| Handshake {
                rid,
                codecs,
                project_id,
                token,
                session_id,
                resume_token,
            },
        )
}

/// Codes a decoder may return for client input.
fn client_code_ok(code: ErrorCode) -> bool {
    code.is_protocol()
        || matches!(
            code,
            ErrorCode::MatchmakingInvalid | ErrorCode::AuthInvalidToken
        )
}

fn decode_everything(bytes: &[u8]) {
    let limits = Limits::default();
    for codec in Codec::SUPPORTED {
        if let Err(e) = codec.decode_client(bytes, &limits) {
            assert!(client_code_ok(e.code), "{e}");
            assert!(!e.reason.is_empty());
        }
        if let Err(e) = codec.decode_server(bytes, &Limits::for_server_frames()) {
            assert!(e.code.is_protocol(), "{e}");
        }
    }
    if let Err(e) = decode_opening(bytes, &limits) {
        assert!(
            e.code.is_protocol() || e.code == ErrorCode::AuthInvalidToken,
            "{e}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_frames_round_trip(frame in arb_client_frame()) {
        for codec in Codec::SUPPORTED {
            let mut buf = Vec::new();
            codec.encode_client(&frame, &mut buf).expect("encodes");
            let back = codec.decode_client(&buf, &Limits::default());
            prop_assert_eq!(back.as_ref(), Ok(&frame), "{}", codec);
        }
    }

    #[test]
    fn server_frames_round_trip(frame in arb_server_frame()) {
        for codec in Codec::SUPPORTED {
            let mut buf = Vec::new();
            codec.encode_server(&frame, &mut buf).expect("encodes");
            let back = codec.decode_server(&buf, &Limits::for_server_frames());
            prop_assert_eq!(back.as_ref(), Ok(&frame), "{}", codec);
        }
    }

    #[test]
    fn handshakes_round_trip(handshake in arb_handshake()) {
        let mut buf = Vec::new();
        handshake.encode(&mut buf).expect("encodes");
        prop_assert_eq!(decode_opening(&buf, &Limits::default()), Ok(Opening::Handshake(handshake)));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        frame in arb_server_frame(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        for codec in Codec::SUPPORTED {
            let mut buf = Vec::new();
            codec.encode_server(&frame, &mut buf).expect("encodes");
            for (at, byte, how) in &cuts {
                if buf.is_empty() {
                    break;
                }
                let i = at.index(buf.len());
                match how {
                    0 => buf[i] = *byte,
                    1 => buf.truncate(i),
                    _ => buf.insert(i, *byte),
                }
            }
            decode_everything(&buf);
        }
    }

    #[test]
    fn random_json_shaped_frames_never_panic(
        t in prop::sample::select(MessageType::ALL),
        rid in arb_value(),
        room in arb_value(),
        p in arb_value(),
        v in prop_oneof![Just(Value::from(1)), arb_value()],
    ) {
        let frame = serde_json::json!({ "v": v, "t": t.as_str(), "rid": rid, "room": room, "p": p });
        decode_everything(&serde_json::to_vec(&frame).expect("json"));
        decode_everything(&rmp_serde::to_vec_named(&frame).expect("msgpack"));
    }
}
