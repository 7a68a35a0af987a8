//! The `counter` room against PROTOCOL.md §11, through the SDK harness.

use arbiter_plugin_counter::{Counter, MAX_COUNTER};
use arbiter_plugin_sdk::testing::Harness;
use arbiter_plugin_sdk::{PatchOp, Target, Value};
use serde_json::json;

fn room() -> Harness<Counter> {
    Harness::<Counter>::builder()
        .room_type("counter")
        .create(json!({}))
        .expect("create")
}

#[test]
fn starts_at_zero_event_driven_without_limit() {
    let h = room();
    assert_eq!(h.state(), &json!({ "counter": 0 }));
    assert_eq!(h.settings().tick_rate, 0);
    assert_eq!(h.settings().max_clients, 0);
    assert!(h.settings().unreliable.is_empty());
}

#[test]
fn many_clients_may_join() {
    let mut h = room();
    for i in 0..100 {
        h.join(&format!("s_{i}")).expect("no limit");
    }
    assert_eq!(h.clients().len(), 100);
}

#[test]
fn inc_adds_by_and_defaults_to_one() {
    let mut h = room();
    h.join("s_a").unwrap();
    let step = h.message("s_a", "inc", json!({ "by": 5 })).unwrap();
    assert_eq!(step.ops, [PatchOp::set("/counter", json!(5))]);
    assert!(step.deliveries.is_empty());
    h.message("s_a", "inc", json!({})).unwrap();
    h.message("s_a", "inc", Value::Null).unwrap();
    h.message("s_a", "inc", json!({ "by": -10 })).unwrap();
    h.message("s_a", "inc", json!({ "by": 0 })).unwrap();
    assert_eq!(h.state(), &json!({ "counter": -3 }));
}

#[test]
fn invalid_by_changes_nothing_and_answers_the_sender_only() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.join("s_b").unwrap();
    h.message("s_a", "inc", json!({ "by": 2 })).unwrap();
    let bad = [
        json!({ "by": 1.5 }),
        json!({ "by": 2.0 }),
        json!({ "by": "3" }),
        json!({ "by": null }),
        json!({ "by": true }),
        json!({ "by": [1] }),
        json!({ "by": { "n": 1 } }),
        json!({ "by": u64::MAX }),
        json!("inc"),
        json!(7),
    ];
    for data in bad {
        let step = h.message("s_a", "inc", data.clone()).unwrap();
        assert!(step.ops.is_empty(), "{data}: {step:?}");
        let errors = step.errors_to("s_a");
        assert_eq!(errors.len(), 1, "{data}: {step:?}");
        assert!(!errors[0].is_empty());
        assert!(step.messages_to("s_b").is_empty(), "only the sender hears");
        assert_eq!(step.deliveries[0].message.to, Target::One("s_a".into()));
        assert!(!step.deliveries[0].message.unreliable);
    }
    assert_eq!(h.state(), &json!({ "counter": 2 }));
    assert_eq!(h.restarts(), 0, "a bad request is not a plugin failure");
}

#[test]
fn error_message_shape_is_type_error_with_reason() {
    let mut h = room();
    h.join("s_a").unwrap();
    let step = h.message("s_a", "inc", json!({ "by": "x" })).unwrap();
    let msg = step.messages_to("s_a")[0];
    assert_eq!(msg.kind, "error");
    let data = msg.data.as_ref().unwrap();
    assert_eq!(data.as_object().unwrap().len(), 1);
    assert!(data["reason"].as_str().unwrap().contains("integer"));
}

#[test]
fn unknown_types_and_bytes_are_answered_with_error() {
    let mut h = room();
    h.join("s_a").unwrap();
    let step = h.message("s_a", "dec", json!({})).unwrap();
    assert_eq!(step.errors_to("s_a").len(), 1);
    let step = h.message_bytes("s_a", "inc", &[1, 2, 3]).unwrap();
    assert_eq!(step.errors_to("s_a").len(), 1);
    assert_eq!(h.state(), &json!({ "counter": 0 }));
}

#[test]
fn the_counter_stays_a_safe_integer() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.message("s_a", "inc", json!({ "by": MAX_COUNTER }))
        .unwrap();
    let step = h.message("s_a", "inc", json!({ "by": 1 })).unwrap();
    assert_eq!(step.errors_to("s_a").len(), 1);
    h.message("s_a", "inc", json!({ "by": i64::MIN })).unwrap();
    assert_eq!(h.state(), &json!({ "counter": MAX_COUNTER }));
    h.message("s_a", "inc", json!({ "by": -2 * MAX_COUNTER }))
        .unwrap();
    assert_eq!(h.state(), &json!({ "counter": -MAX_COUNTER }));
}

#[test]
fn survives_a_restart_with_the_committed_count() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.message("s_a", "inc", json!({ "by": 4 })).unwrap();
    h.restart().unwrap();
    h.message("s_a", "inc", Value::Null).unwrap();
    assert_eq!(h.state(), &json!({ "counter": 5 }));
}

#[test]
fn leave_and_rejoin_keep_the_count() {
    let mut h = room();
    h.join("s_a").unwrap();
    h.message("s_a", "inc", json!({ "by": 3 })).unwrap();
    let step = h.leave("s_a", true).unwrap();
    assert!(step.is_empty());
    h.join("s_b").unwrap();
    assert_eq!(h.state(), &json!({ "counter": 3 }));
}
