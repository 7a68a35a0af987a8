//! The test harness behaves like the host: atomic commits, failures discarded and
//! followed by a restore, seats and lock enforced, deterministic time and
//! randomness, messages delivered to the right members.

use arbiter_plugin_sdk::testing::{Harness, HarnessError, HookFailure};
use arbiter_plugin_sdk::{
    Client, Ctx, Error, Join, Level, Message, RestoreInfo, Result, Room, Settings, Target, pointer,
};
use serde_json::{Value, json};

/// A room that does whatever its messages say, and counts restores in a field
/// that is *not* derivable from the state (to observe rebuilds).
struct Lab {
    generation: u32,
}

impl Room for Lab {
    fn create(ctx: &mut Ctx<'_>, options: &Value) -> Result<(Self, Settings)> {
        if options.get("fail").is_some() {
            return Err(Error::msg("asked to fail"));
        }
        ctx.state().set("/n", 0)?;
        ctx.state().set("/log", json!([]))?;
        let settings = Settings {
            max_clients: 3,
            tick_rate: 10,
            metadata: json!({ "mode": "lab" }),
            ..Settings::default()
        };
        Ok((Lab { generation: 0 }, settings))
    }

    fn restore(info: &RestoreInfo<'_>) -> Result<Self> {
        if info.state.get("poison").is_some() {
            return Err(Error::msg("cannot restore a poisoned state"));
        }
        Ok(Lab { generation: 1 })
    }

    fn join(&mut self, ctx: &mut Ctx<'_>, client: &Client, options: &Value) -> Result<Join> {
        ctx.state()
            .set(pointer!("log", "-"), format!("join {}", client.session_id))?;
        if options.get("vip").is_none() && client.session_id.starts_with("x") {
            return Ok(Join::reject("no x allowed"));
        }
        ctx.broadcast("joined", client.session_id.clone());
        Ok(Join::Accept)
    }

    fn leave(&mut self, ctx: &mut Ctx<'_>, client: &Client, consented: bool) -> Result {
        let entry = format!(
            "leave {} {consented} {}",
            client.session_id,
            ctx.clients().len()
        );
        ctx.state().set("/log/-", entry)
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, data: &Value) -> Result {
        ctx.state().set("/n", 1)?;
        ctx.send_to(&client.session_id, "ack", kind);
        match kind {
            "error" => Err(Error::msg("the room broke")),
            "panic" => panic!("the room panicked"),
            "bad-op" => ctx.state().del("/nope"),
            "lock" => {
                ctx.lock();
                Ok(())
            }
            "unlock" => {
                ctx.unlock();
                Ok(())
            }
            "meta" => {
                ctx.set_metadata(data.clone());
                Ok(())
            }
            "close" => {
                ctx.close("game over");
                Ok(())
            }
            "poison" => ctx.state().set("/poison", true),
            "generation" => {
                let g = self.generation;
                ctx.broadcast_except(&client.session_id, "generation", g);
                Ok(())
            }
            "dice" => {
                let roll = ctx.random_below(6) + 1;
                let f = ctx.random_f64();
                assert!((0.0..1.0).contains(&f));
                ctx.state().set("/roll", roll)
            }
            "log" => {
                ctx.log(Level::Warn, "careful");
                Ok(())
            }
            "time" => {
                let now = ctx.now_ms();
                ctx.state().set("/now", now)
            }
            _ => Ok(()),
        }
    }

    fn message_bytes(&mut self, ctx: &mut Ctx<'_>, _: &Client, kind: &str, bytes: &[u8]) -> Result {
        let mut reversed = bytes.to_vec();
        reversed.reverse();
        ctx.send(Message::bytes(kind, reversed).unreliable());
        Ok(())
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>, dt_ms: u64) -> Result {
        assert_eq!(ctx.dt_ms(), dt_ms);
        ctx.state().set("/dt", dt_ms)
    }

    fn dispose(&mut self, ctx: &mut Ctx<'_>) -> Result {
        ctx.broadcast("bye", Value::Null);
        Ok(())
    }
}

fn lab() -> Harness<Lab> {
    let mut h = Harness::<Lab>::create(json!({})).unwrap();
    h.join("a").unwrap();
    h.join("b").unwrap();
    assert_eq!(h.inbox("a").len(), 2, "a heard both joins");
    h.clear_inbox();
    h
}

fn generation_seen_by_b(h: &mut Harness<Lab>) -> Value {
    let step = h.message("a", "generation", Value::Null).unwrap();
    step.messages_to("b")[0].data.clone().unwrap()
}

#[test]
fn create_commits_state_settings_and_metadata() {
    let h = Harness::<Lab>::create(json!({})).unwrap();
    assert_eq!(h.state(), &json!({ "n": 0, "log": [] }));
    assert_eq!(h.settings().tick_rate, 10);
    assert_eq!(h.metadata(), &json!({ "mode": "lab" }));
    assert_eq!(h.closed(), None);
}

#[test]
fn a_failed_create_is_reported() {
    let err = Harness::<Lab>::create(json!({ "fail": true })).unwrap_err();
    assert_eq!(
        err.failure(),
        Some(&HookFailure::Reported("asked to fail".into()))
    );
}

#[test]
fn errors_panics_and_bad_ops_commit_nothing_and_restore() {
    let mut h = lab();
    assert_eq!(generation_seen_by_b(&mut h), json!(0));
    h.clear_inbox();
    let before = h.state().clone();
    let cases = [
        ("error", HookFailure::Reported("the room broke".into())),
        ("panic", HookFailure::Panicked("the room panicked".into())),
    ];
    for (kind, expected) in cases {
        let err = h.message("a", kind, Value::Null).unwrap_err();
        assert_eq!(err.failure(), Some(&expected), "{kind}");
        assert_eq!(h.state(), &before, "{kind}: nothing committed");
    }
    let err = h.message("a", "bad-op", Value::Null).unwrap_err();
    assert!(matches!(err.failure(), Some(HookFailure::Reported(r)) if r.contains("/nope")));
    assert_eq!(h.state(), &before);
    assert!(
        h.inbox("a").iter().all(|m| m.kind != "ack"),
        "no ack was delivered"
    );
    assert_eq!(h.restarts(), 3);
    // The fresh instance came from restore.
    assert_eq!(generation_seen_by_b(&mut h), json!(1));
}

#[test]
fn a_room_that_cannot_restore_is_closed() {
    let mut h = lab();
    h.message("a", "poison", Value::Null).unwrap();
    let err = h.restart().unwrap_err();
    assert!(matches!(
        err,
        HarnessError::Hook {
            hook: "arbiter_on_restore",
            ..
        }
    ));
    assert!(h.closed().unwrap().contains("restore failed"));
    assert!(matches!(
        h.message("a", "x", Value::Null),
        Err(HarnessError::Closed(_))
    ));
}

#[test]
fn joins_respect_seats_lock_and_rejection() {
    let mut h = lab();
    assert_eq!(h.join("a"), Err(HarnessError::AlreadyMember("a".into())));
    let before = h.state().clone();
    assert_eq!(
        h.join("xavier"),
        Err(HarnessError::Rejected("no x allowed".into()))
    );
    assert_eq!(h.state(), &before, "a rejected join writes nothing");
    let vip = Client {
        session_id: "xena".into(),
        user_id: "u1".into(),
    };
    let step = h.join_with(vip, json!({ "vip": true })).unwrap();
    assert_eq!(
        step.messages_to("xena").len(),
        1,
        "the joiner hears the broadcast"
    );
    assert_eq!(h.join("d"), Err(HarnessError::Full { max: 3 }));
    h.leave("xena", true).unwrap();
    h.message("a", "lock", Value::Null).unwrap();
    assert!(h.is_locked());
    assert_eq!(h.join("d"), Err(HarnessError::Locked));
    h.message("a", "unlock", Value::Null).unwrap();
    h.join("d").unwrap();
}

#[test]
fn leave_sees_the_remaining_clients() {
    let mut h = lab();
    h.leave("a", false).unwrap();
    assert_eq!(
        h.state()["log"].as_array().unwrap().last(),
        Some(&json!("leave a false 1"))
    );
    assert_eq!(
        h.message("a", "x", Value::Null),
        Err(HarnessError::NotMember("a".into()))
    );
    assert_eq!(h.clients().len(), 1);
}

#[test]
fn messages_reach_their_targets() {
    let mut h = lab();
    let step = h.message("a", "generation", Value::Null).unwrap();
    assert_eq!(step.deliveries.len(), 2);
    assert_eq!(step.messages_to("a")[0].kind, "ack");
    assert_eq!(step.messages_to("b")[0].kind, "generation");
    assert_eq!(step.deliveries[1].message.to, Target::AllBut("a".into()));
    let step = h.message_bytes("b", "blob", &[1, 2, 3]).unwrap();
    let m = step.messages_to("a")[0];
    assert_eq!(m.bytes.as_deref(), Some(&[3, 2, 1][..]));
    assert!(m.unreliable);
    assert_eq!(h.inbox("a").len(), 2);
    h.clear_inbox();
    assert!(h.inbox("a").is_empty());
}

#[test]
fn metadata_and_close_are_applied() {
    let mut h = lab();
    h.message("a", "meta", json!({ "round": 2 })).unwrap();
    assert_eq!(h.metadata(), &json!({ "round": 2 }));
    h.message("a", "close", Value::Null).unwrap();
    assert_eq!(h.closed(), Some("game over"));
    assert_eq!(h.join("c"), Err(HarnessError::Closed("game over".into())));
}

#[test]
fn dispose_runs_once_and_closes() {
    let mut h = lab();
    let step = h.dispose().unwrap();
    assert_eq!(step.messages_to("b")[0].kind, "bye");
    assert!(h.dispose().is_err());
}

#[test]
fn time_is_virtual_and_ticks_follow_the_rate() {
    let mut h = Harness::<Lab>::builder()
        .start_ms(1_000)
        .create(json!({}))
        .unwrap();
    h.join("a").unwrap();
    h.message("a", "time", Value::Null).unwrap();
    assert_eq!(h.state()["now"], json!(1_000));
    h.tick().unwrap();
    assert_eq!(h.state()["dt"], json!(100));
    h.tick_by(7).unwrap();
    h.advance(3);
    h.message("a", "time", Value::Null).unwrap();
    assert_eq!(h.state()["dt"], json!(7));
    assert_eq!(h.state()["now"], json!(1_110));
}

#[test]
fn randomness_is_seeded() {
    let rolls = |seed: u64| {
        let mut h = Harness::<Lab>::builder()
            .seed(seed)
            .create(json!({}))
            .unwrap();
        h.join("a").unwrap();
        (0..20)
            .map(|_| {
                h.message("a", "dice", Value::Null).unwrap();
                h.state()["roll"].as_u64().unwrap()
            })
            .collect::<Vec<_>>()
    };
    let a = rolls(1);
    assert_eq!(a, rolls(1));
    assert_ne!(a, rolls(2));
    assert!(a.iter().all(|r| (1..=6).contains(r)));
}

#[test]
fn logs_are_captured() {
    let mut h = lab();
    h.message("a", "log", Value::Null).unwrap();
    assert_eq!(h.logs(), [(Level::Warn, "careful".to_owned())]);
}

#[test]
fn event_driven_rooms_do_not_tick() {
    struct Still;
    impl Room for Still {
        fn create(_: &mut Ctx<'_>, _: &Value) -> Result<(Self, Settings)> {
            Ok((Still, Settings::default()))
        }
        fn restore(_: &RestoreInfo<'_>) -> Result<Self> {
            Ok(Still)
        }
    }
    let mut h = Harness::<Still>::create(Value::Null).unwrap();
    assert_eq!(h.tick(), Err(HarnessError::NotTicking));
    h.join("a").unwrap();
    // The default message hook answers with an error message.
    let step = h.message("a", "anything", Value::Null).unwrap();
    assert_eq!(step.errors_to("a").len(), 1);
}
