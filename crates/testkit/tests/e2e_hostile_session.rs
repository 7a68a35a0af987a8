//! Hostile sessions (PROTOCOL.md §3, §4, §9): frames about rooms the session
//! is not in, repeated protocol errors, bad opening frames, floods and
//! well-formed lies; each gets its exact answer, and nothing changes the
//! state a well-behaved client in the same room sees.

mod hostile;

use hostile::*;

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
