//! The `arena` room against PROTOCOL.md §11, through the SDK harness.

use arbiter_plugin_arena::{Arena, DEFAULT_MAX_CLIENTS, TICK_RATE};
use arbiter_plugin_sdk::testing::{Harness, HarnessError, HookFailure};
use arbiter_plugin_sdk::{PatchOp, Value};
use serde_json::json;

fn room_with(options: Value) -> Result<Harness<Arena>, HarnessError> {
    Harness::<Arena>::builder()
        .room_type("arena")
        .create(options)
}

fn room() -> Harness<Arena> {
    room_with(json!({})).expect("create")
}

#[test]
fn settings_are_8_seats_20_ticks_and_unreliable_move() {
    let h = room();
    assert_eq!(h.settings().max_clients, DEFAULT_MAX_CLIENTS);
    assert_eq!(DEFAULT_MAX_CLIENTS, 8);
    assert_eq!(h.settings().tick_rate, TICK_RATE);
    assert_eq!(TICK_RATE, 20);
    assert_eq!(h.settings().unreliable, ["move"]);
    assert_eq!(h.state(), &json!({ "players": {} }));
}

#[test]
fn options_max_clients_sets_the_seats() {
    let mut h = room_with(json!({ "max_clients": 2 })).unwrap();
    assert_eq!(h.settings().max_clients, 2);
    h.join("s_a").unwrap();
    h.join("s_b").unwrap();
    assert_eq!(h.join("s_c"), Err(HarnessError::Full { max: 2 }));
    assert_eq!(room_with(Value::Null).unwrap().settings().max_clients, 8);
}

#[test]
fn invalid_max_clients_fails_the_creation() {
    for bad in [json!(0), json!(-3), json!(1.5), json!("8")] {
        let err = room_with(json!({ "max_clients": bad })).unwrap_err();
        match err.failure() {
            Some(HookFailure::Reported(reason)) => {
                assert!(reason.contains("max_clients"), "{reason}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn the_ninth_player_is_refused_by_default() {
    let mut h = room();
    for i in 0..8 {
        h.join(&format!("s_{i}")).unwrap();
    }
    assert_eq!(h.join("s_8"), Err(HarnessError::Full { max: 8 }));
    assert_eq!(h.state()["players"].as_object().unwrap().len(), 8);
}

#[test]
fn join_adds_a_player_at_the_origin_and_leave_removes_it() {
    let mut h = room();
    let step = h.join("s_a").unwrap();
    assert_eq!(
        step.ops,
        [PatchOp::set("/players/s_a", json!({ "x": 0, "y": 0 }))]
    );
    h.join("s_b").unwrap();
    let step = h.leave("s_a", false).unwrap();
    assert_eq!(step.ops, [PatchOp::del("/players/s_a")]);
    assert_eq!(
        h.state(),
        &json!({ "players": { "s_b": { "x": 0, "y": 0 } } })
    );
}

#[test]
fn move_sets_the_senders_position_only() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.join("s_b").unwrap();
    let step = h
        .message("s_a", "move", json!({ "x": 3.5, "y": -2 }))
        .unwrap();
    assert_eq!(
        step.ops,
        [
            PatchOp::set("/players/s_a/x", json!(3.5)),
            PatchOp::set("/players/s_a/y", json!(-2)),
        ]
    );
    assert!(step.deliveries.is_empty());
    assert_eq!(h.state()["players"]["s_b"], json!({ "x": 0, "y": 0 }));
    // Only the changed coordinate is written.
    let step = h
        .message("s_a", "move", json!({ "x": 4, "y": -2 }))
        .unwrap();
    assert_eq!(step.ops, [PatchOp::set("/players/s_a/x", json!(4))]);
    let step = h
        .message("s_a", "move", json!({ "x": 4, "y": -2 }))
        .unwrap();
    assert!(step.is_empty());
}

#[test]
fn session_ids_needing_escapes_work() {
    let mut h = room();
    h.join("s/a~b").unwrap();
    h.message("s/a~b", "move", json!({ "x": 1, "y": 2 }))
        .unwrap();
    assert_eq!(h.state()["players"]["s/a~b"], json!({ "x": 1, "y": 2 }));
    h.leave("s/a~b", true).unwrap();
    assert_eq!(h.state(), &json!({ "players": {} }));
}

#[test]
fn invalid_moves_change_nothing_and_answer_the_sender() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.join("s_b").unwrap();
    let bad = [
        json!({ "x": 1 }),
        json!({ "y": 1 }),
        json!({ "x": "1", "y": 2 }),
        json!({ "x": 1, "y": null }),
        json!({ "x": [1], "y": 2 }),
        json!([1, 2]),
        json!("move"),
        Value::Null,
    ];
    for data in bad {
        let step = h.message("s_a", "move", data.clone()).unwrap();
        assert!(step.ops.is_empty(), "{data}");
        assert_eq!(step.errors_to("s_a").len(), 1, "{data}: {step:?}");
        assert!(step.messages_to("s_b").is_empty());
    }
    let step = h.message("s_a", "shoot", json!({})).unwrap();
    assert_eq!(step.errors_to("s_a").len(), 1);
    assert_eq!(h.state()["players"]["s_a"], json!({ "x": 0, "y": 0 }));
    assert_eq!(h.restarts(), 0);
}

#[test]
fn ticks_change_nothing_by_themselves() {
    let mut h = room();
    h.join("s_a").unwrap();
    let start = h.now_ms();
    for _ in 0..20 {
        assert!(h.tick().unwrap().is_empty());
    }
    assert_eq!(h.now_ms() - start, 1000, "20 ticks of 50 ms");
}

#[test]
fn moves_interleaved_with_ticks_like_the_workload() {
    let mut h = room();
    let players: Vec<String> = (0..8).map(|i| format!("s_{i}")).collect();
    for p in &players {
        h.join(p).unwrap();
    }
    for round in 1..=20u32 {
        for p in &players {
            h.message(p, "move", json!({ "x": round, "y": 0.5 }))
                .unwrap();
        }
        h.tick().unwrap();
    }
    for p in &players {
        assert_eq!(
            h.state()["players"][p.as_str()],
            json!({ "x": 20, "y": 0.5 })
        );
    }
}

#[test]
fn a_restart_keeps_every_player() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.message("s_a", "move", json!({ "x": 7, "y": 8 })).unwrap();
    h.restart().unwrap();
    h.join("s_b").unwrap();
    h.message("s_a", "move", json!({ "x": 9, "y": 8 })).unwrap();
    assert_eq!(
        h.state(),
        &json!({ "players": { "s_a": { "x": 9, "y": 8 }, "s_b": { "x": 0, "y": 0 } } })
    );
}
