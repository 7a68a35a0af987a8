//! The MessagePack maps of `docs/plugin-abi.md`, checked against the ABI types, so
//! that the page a plugin author in another language follows cannot drift.

use arbiter_plugin_abi::{
    Client, HookOutput, MessageInput, OutMessage, RestoreInput, Settings, Target, TickInput,
};
use arbiter_plugin_sdk::PatchOp;
use serde::Serialize;
use serde_json::{Value, json};

/// The value as the other side decodes it: MessagePack with named fields, read back
/// as a generic map.
fn wire<T: Serialize>(value: &T) -> Value {
    let bytes = rmp_serde::to_vec_named(value).unwrap();
    rmp_serde::from_slice(&bytes).unwrap()
}

#[test]
fn output_map_as_documented() {
    let out = HookOutput {
        ops: vec![
            PatchOp::set("/players/s_a/x", json!(3.5)),
            PatchOp::del("/gone"),
        ],
        messages: vec![
            OutMessage {
                to: Target::One("s_a".into()),
                kind: "error".into(),
                data: Some(json!({ "reason": "not your turn" })),
                bytes: None,
                unreliable: false,
                from: None,
            },
            OutMessage {
                to: Target::AllBut("s_a".into()),
                kind: "pos".into(),
                data: Some(json!([1, 2])),
                bytes: None,
                unreliable: true,
                from: Some("s_a".into()),
            },
            OutMessage {
                to: Target::All,
                kind: "tick".into(),
                data: Some(Value::Null),
                bytes: None,
                unreliable: false,
                from: None,
            },
        ],
        lock: Some(true),
        metadata: Some(json!({ "map": "dust" })),
        close: Some("game over".into()),
        ..HookOutput::default()
    };
    assert_eq!(
        wire(&out),
        json!({
            "ops": [
                { "op": "set", "path": "/players/s_a/x", "value": 3.5 },
                { "op": "del", "path": "/gone" },
            ],
            "messages": [
                { "to": { "kind": "one", "session_id": "s_a" }, "type": "error",
                  "data": { "reason": "not your turn" }, "unreliable": false },
                { "to": { "kind": "all_but", "session_id": "s_a" }, "type": "pos",
                  "data": [1, 2], "unreliable": true, "from": "s_a" },
                { "to": { "kind": "all" }, "type": "tick", "data": null, "unreliable": false },
            ],
            "lock": true,
            "metadata": { "map": "dust" },
            "close": "game over",
        })
    );
}

#[test]
fn a_minimal_output_is_an_empty_map_and_missing_keys_default() {
    let empty: HookOutput = rmp_serde::from_slice(&[0x80]).unwrap();
    assert_eq!(empty, HookOutput::default());
    assert_eq!(
        wire(&HookOutput::default()),
        json!({ "ops": [], "messages": [] })
    );
    let error = HookOutput {
        error: Some("boom".into()),
        ..HookOutput::default()
    };
    assert_eq!(
        wire(&error),
        json!({ "ops": [], "messages": [], "error": "boom" })
    );
}

#[test]
fn settings_and_reject_as_documented() {
    let out = HookOutput {
        settings: Some(Settings {
            max_clients: 8,
            tick_rate: 20,
            unreliable: vec!["move".into()],
            ..Settings::default()
        }),
        reject: Some("full".into()),
        ..HookOutput::default()
    };
    let v = wire(&out);
    assert_eq!(
        v["settings"],
        json!({ "max_clients": 8, "tick_rate": 20, "metadata": {}, "unreliable": ["move"], "backfill": false })
    );
    assert_eq!(v["reject"], json!("full"));
}

#[test]
fn inputs_as_documented() {
    let client = Client {
        session_id: "s_a".into(),
        user_id: "u_1".into(),
    };
    let message = MessageInput {
        client: client.clone(),
        kind: "move".into(),
        data: Some(json!({ "cell": 4 })),
        bytes: None,
        now_ms: 1_700_000_000_000,
    };
    assert_eq!(
        wire(&message),
        json!({
            "client": { "session_id": "s_a", "user_id": "u_1" },
            "type": "move",
            "data": { "cell": 4 },
            "now_ms": 1_700_000_000_000u64,
        })
    );
    assert_eq!(
        wire(&TickInput {
            dt_ms: 50,
            now_ms: 7
        }),
        json!({ "dt_ms": 50, "now_ms": 7 })
    );
    let restore = RestoreInput {
        room: "r".into(),
        room_type: "t".into(),
        options: json!({}),
        state: json!({ "n": 1 }),
        clients: vec![client],
        now_ms: 1,
    };
    assert_eq!(
        wire(&restore),
        json!({
            "room": "r", "room_type": "t", "options": {}, "state": { "n": 1 },
            "clients": [{ "session_id": "s_a", "user_id": "u_1" }], "now_ms": 1,
        })
    );
}

#[test]
fn bytes_travel_as_msgpack_bin() {
    let message = MessageInput {
        client: Client {
            session_id: "s".into(),
            user_id: "u".into(),
        },
        kind: "k".into(),
        data: None,
        bytes: Some(vec![1, 2, 3]),
        now_ms: 0,
    };
    let bytes = rmp_serde::to_vec_named(&message).unwrap();
    // "bytes" key, then bin8 (0xc4) of length 3.
    let key = b"\xa5bytes\xc4\x03\x01\x02\x03";
    assert!(bytes.windows(key.len()).any(|w| w == key));
}
