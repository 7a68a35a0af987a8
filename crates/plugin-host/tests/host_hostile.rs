//! Hostile plugins: every failure is a typed error, nothing reaches the room's
//! committed state, the instance is restored from that state, the next hook
//! works, and other rooms never notice.

mod support;

use std::sync::Arc;

use arbiter_plugin_abi::{
    Client, CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput, TickInput,
    pack_ptr_len,
};
use arbiter_plugin_host::{
    BadOutput, BudgetMode, Hook, HostConfig, Limits, PluginError, PluginHost, RoomPlugin, RoomRng,
    Trap,
};
use serde_json::{Value, json};
use support::{Evil, WatPlugin, good_output, msgpack, restore_input, test_config};

const ALL_HOOKS: [Hook; 6] = [
    Hook::Create,
    Hook::Join,
    Hook::Leave,
    Hook::Message,
    Hook::Tick,
    Hook::Dispose,
];

fn client() -> Client {
    Client {
        session_id: "s_1".into(),
        user_id: "u_1".into(),
    }
}

fn call(room: &mut RoomPlugin, hook: Hook) -> Result<HookOutput, PluginError> {
    match hook {
        Hook::Create => room
            .create(&CreateInput {
                room: "r1".into(),
                room_type: "wat".into(),
                options: json!({}),
                now_ms: 1,
            })
            .map(|(settings, mut out)| {
                out.settings = Some(settings);
                out
            }),
        Hook::Join => room.join(&JoinInput {
            client: client(),
            options: json!({}),
            now_ms: 2,
        }),
        Hook::Leave => room.leave(&LeaveInput {
            client: client(),
            consented: true,
            now_ms: 3,
        }),
        Hook::Message => room.message(&MessageInput {
            client: client(),
            kind: "move".into(),
            data: Some(json!({ "x": 1, "y": 2 })),
            bytes: None,
            now_ms: 4,
        }),
        Hook::Tick => room.tick(&TickInput {
            dt_ms: 50,
            now_ms: 5,
        }),
        Hook::Dispose => room.dispose(&DisposeInput { now_ms: 6 }),
        Hook::Restore => room.restore(&restore_input("r1", &json!({}))),
        Hook::Start => unreachable!("not a hook call"),
    }
}

fn load(host: &PluginHost, plugin: &WatPlugin) -> arbiter_plugin_host::Plugin {
    host.load("wat", &plugin.wasm()).expect("test plugin loads")
}

/// Runs `hook` of a plugin that is hostile in it, as a room would: the failure,
/// the restore from committed state, the same hook again. Returns the error.
fn fail_restore_recover(host: &PluginHost, plugin: &WatPlugin, hook: Hook) -> PluginError {
    let mut room = load(host, plugin).instantiate("r1", 7).unwrap();
    let mut state = json!({});
    if hook != Hook::Create {
        let out = call(&mut room, Hook::Create).unwrap();
        room.commit(&mut state, &out).unwrap();
    }
    let committed = state.clone();

    let err = call(&mut room, hook).expect_err("hostile hook must fail");
    assert!(err.is_runtime_failure(), "{err}");
    assert_eq!(
        state, committed,
        "nothing of a failed hook reaches the state"
    );
    assert!(room.needs_restore());
    assert_eq!(room.errors(), 1);
    // No hook runs on a poisoned instance, and refusing is not an error.
    assert!(matches!(
        call(&mut room, Hook::Tick),
        Err(PluginError::RestoreRequired { hook: Hook::Tick })
    ));
    assert_eq!(room.errors(), 1);

    let restored = room.restore(&restore_input("r1", &state)).unwrap();
    assert_eq!(
        restored,
        good_output(Hook::Restore),
        "arbiter_on_restore ran"
    );
    assert!(!room.needs_restore());
    assert_eq!(room.stats().rebuilds, 1);

    let out = call(&mut room, hook).expect("the same hook works after restore");
    assert_eq!(out, good_output(hook));
    room.commit(&mut state, &out).unwrap();
    let mut expected = committed;
    arbiter_state::apply(&mut expected, &good_output(hook).ops).unwrap();
    assert_eq!(state, expected);
    err
}

#[test]
fn infinite_loop_in_each_hook_is_cut_by_the_budget() {
    let host = PluginHost::new(test_config()).unwrap();
    for hook in ALL_HOOKS {
        let err = fail_restore_recover(&host, &WatPlugin::evil(hook, Evil::Loop), hook);
        assert!(
            matches!(err, PluginError::BudgetExhausted { hook: h, .. } if h == hook),
            "{hook}: {err}"
        );
    }
}

#[test]
fn infinite_loop_is_cut_in_fuel_and_combined_modes() {
    for budget in [BudgetMode::Fuel, BudgetMode::EpochAndFuel] {
        let host = PluginHost::new(HostConfig {
            budget,
            ..test_config()
        })
        .unwrap();
        let err = fail_restore_recover(&host, &WatPlugin::evil(Hook::Tick, Evil::Loop), Hook::Tick);
        assert!(
            matches!(err, PluginError::BudgetExhausted { .. }),
            "{budget:?}: {err}"
        );
    }
}

#[test]
fn fuel_mode_reports_the_fuel_a_hook_used() {
    let host = PluginHost::new(HostConfig {
        budget: BudgetMode::Fuel,
        ..test_config()
    })
    .unwrap();
    let mut room = load(&host, &WatPlugin::good())
        .instantiate("r1", 1)
        .unwrap();
    call(&mut room, Hook::Create).unwrap();
    let used = room.stats().last_hook_fuel.expect("fuel mode counts");
    assert!(used > 0 && used < 1_000, "{used}");
}

#[test]
fn unreachable_in_each_hook_is_a_trap() {
    let host = PluginHost::new(test_config()).unwrap();
    for hook in ALL_HOOKS {
        let err = fail_restore_recover(&host, &WatPlugin::evil(hook, Evil::Unreachable), hook);
        assert!(
            matches!(
                err,
                PluginError::Trap { hook: h, code: Some(Trap::UnreachableCodeReached), .. } if h == hook
            ),
            "{hook}: {err}"
        );
    }
}

#[test]
fn endless_allocation_hits_the_memory_limit() {
    let host = PluginHost::new(test_config()).unwrap();
    for hook in [Hook::Create, Hook::Message, Hook::Tick] {
        let err = fail_restore_recover(&host, &WatPlugin::evil(hook, Evil::GrowUntilRefused), hook);
        match err {
            PluginError::MemoryLimit {
                hook: h,
                limit,
                requested,
            } => {
                assert_eq!(h, hook);
                assert_eq!(limit, 32 << 20);
                assert!(requested > limit);
            }
            other => panic!("{hook}: {other}"),
        }
    }
    // A guest that ignores the refusal and keeps asking is stopped by the budget.
    let err = fail_restore_recover(
        &host,
        &WatPlugin::evil(Hook::Tick, Evil::GrowForever),
        Hook::Tick,
    );
    assert!(matches!(err, PluginError::BudgetExhausted { .. }), "{err}");
}

#[test]
fn a_smaller_memory_limit_is_enforced() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        },
        ..test_config()
    })
    .unwrap();
    let err = fail_restore_recover(
        &host,
        &WatPlugin::evil(Hook::Tick, Evil::GrowUntilRefused),
        Hook::Tick,
    );
    assert!(
        matches!(
            err,
            PluginError::MemoryLimit {
                limit: 1_048_576,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn stack_overflow_is_a_trap() {
    let host = PluginHost::new(test_config()).unwrap();
    let err = fail_restore_recover(
        &host,
        &WatPlugin::evil(Hook::Message, Evil::Recurse),
        Hook::Message,
    );
    assert!(
        matches!(
            err,
            PluginError::Trap {
                code: Some(Trap::StackOverflow),
                ..
            }
        ),
        "{err}"
    );
}

fn bad_output(evil: Evil) -> BadOutput {
    let host = PluginHost::new(test_config()).unwrap();
    match fail_restore_recover(&host, &WatPlugin::evil(Hook::Message, evil), Hook::Message) {
        PluginError::BadOutput {
            hook: Hook::Message,
            reason,
        } => reason,
        other => panic!("expected BadOutput, got {other}"),
    }
}

#[test]
fn garbage_output_is_refused() {
    // Random bytes (a fixed xoshiro stream, so the test is reproducible).
    let mut rng = RoomRng::new(99);
    let garbage: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
    assert!(matches!(
        bad_output(Evil::Output(garbage)),
        BadOutput::Malformed(_)
    ));
    // A truncated map.
    let mut truncated = msgpack(&good_output(Hook::Message));
    truncated.truncate(truncated.len() - 3);
    assert!(matches!(
        bad_output(Evil::Output(truncated)),
        BadOutput::Malformed(_)
    ));
}

#[test]
fn output_outside_memory_or_too_large_is_refused() {
    assert!(matches!(
        bad_output(Evil::Packed(pack_ptr_len(0xffff_0000, 10))),
        BadOutput::OutOfBounds {
            ptr: 0xffff_0000,
            len: 10,
            ..
        }
    ));
    // In bounds at the start, running past the end.
    assert!(matches!(
        bad_output(Evil::Packed(pack_ptr_len(131_000, 1_000))),
        BadOutput::OutOfBounds { .. }
    ));
    // Huge length: refused before any bounds arithmetic.
    assert!(matches!(
        bad_output(Evil::Packed(pack_ptr_len(0, u32::MAX))),
        BadOutput::TooLarge {
            len: u32::MAX,
            max: 4_194_304
        }
    ));
    // Negative i64 (ptr ≥ 2^31) is just a large pointer.
    assert!(matches!(
        bad_output(Evil::Packed(-1)),
        BadOutput::TooLarge { .. }
    ));
}

#[test]
fn valid_msgpack_of_the_wrong_shape_is_refused() {
    for wrong in [
        json!([1, 2, 3]),
        json!("ops"),
        json!({ "ops": "nope" }),
        json!({ "ops": [{ "op": "move", "path": "/x" }] }),
        json!({ "ops": [{ "op": "set", "path": "/x" }] }),
        json!({ "messages": [{ "to": { "kind": "everyone" }, "type": "x" }] }),
        json!({ "lock": "yes" }),
        json!({ "settings": { "tick_rate": -1 } }),
    ] {
        assert!(
            matches!(
                bad_output(Evil::Output(msgpack(&wrong))),
                BadOutput::Malformed(_)
            ),
            "{wrong}"
        );
    }
}

#[test]
fn trailing_bytes_and_deep_nesting_are_refused() {
    let mut trailing = msgpack(&good_output(Hook::Message));
    trailing.extend_from_slice(&[0xc0, 0xc0]);
    assert_eq!(
        bad_output(Evil::Output(trailing)),
        BadOutput::TrailingBytes { extra: 2 }
    );
    // {"metadata": [[[[…]]]]} 10,000 deep: refused without exhausting the host stack.
    let mut deep = vec![0x81, 0xa8];
    deep.extend_from_slice(b"metadata");
    deep.extend(std::iter::repeat_n(0x91, 10_000));
    deep.push(0xc0);
    assert!(matches!(
        bad_output(Evil::Output(deep)),
        BadOutput::Malformed(_)
    ));
}

#[test]
fn alloc_returning_a_bad_pointer_is_refused() {
    let host = PluginHost::new(test_config()).unwrap();
    // `arbiter_alloc` of a fresh instance answers out of bounds, so every hook,
    // restore included, fails the same typed way and the room stays poisoned.
    let plugin = load(&host, &WatPlugin::good().with_evil_alloc());
    let mut room = plugin.instantiate("r1", 1).unwrap();
    for hook in [Hook::Create, Hook::Restore] {
        let err = call(&mut room, hook).unwrap_err();
        assert!(
            matches!(
                err,
                PluginError::BadOutput {
                    hook: h,
                    reason: BadOutput::InputBuffer { ptr: 0xffff_fff0, memory: 131_072, .. }
                } if h == hook
            ),
            "{err}"
        );
        assert!(room.needs_restore());
    }
    assert_eq!(room.errors(), 2);
}

#[test]
fn a_plugin_reported_error_discards_the_output_and_restores() {
    let reported = HookOutput {
        ops: good_output(Hook::Tick).ops,
        error: Some("invariant broken".into()),
        ..HookOutput::default()
    };
    let host = PluginHost::new(test_config()).unwrap();
    let err = fail_restore_recover(
        &host,
        &WatPlugin::evil(Hook::Tick, Evil::Output(msgpack(&reported))),
        Hook::Tick,
    );
    match err {
        PluginError::PluginReported { hook, message } => {
            assert_eq!(hook, Hook::Tick);
            assert_eq!(message, "invariant broken");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn ops_that_do_not_apply_change_nothing_and_poison() {
    let bad_ops = HookOutput {
        ops: vec![
            arbiter_state::PatchOp::Set {
                path: "/n".into(),
                value: json!(99),
            },
            arbiter_state::PatchOp::Del {
                path: "/no/such".into(),
            },
        ],
        ..HookOutput::default()
    };
    let host = PluginHost::new(test_config()).unwrap();
    let plugin = WatPlugin::evil(Hook::Tick, Evil::Output(msgpack(&bad_ops)));
    let mut room = load(&host, &plugin).instantiate("r1", 1).unwrap();
    let mut state = json!({});
    let out = call(&mut room, Hook::Create).unwrap();
    room.commit(&mut state, &out).unwrap();
    let committed = state.clone();
    let out = call(&mut room, Hook::Tick).expect("decodes fine");
    let err = room.commit(&mut state, &out).unwrap_err();
    assert!(matches!(err, PluginError::BadOps { .. }), "{err}");
    assert_eq!(state, committed);
    assert!(room.needs_restore());
    assert_eq!(room.errors(), 1);
    room.restore(&restore_input("r1", &state)).unwrap();
    let out = call(&mut room, Hook::Tick).unwrap();
    room.commit(&mut state, &out).unwrap();
    assert_eq!(state, json!({ "n": 0, "tick": 1 }));
}

#[test]
fn log_abuse_never_fails_the_hook() {
    // A generous budget: this test is about the log import, not the clock.
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            hook_budget: std::time::Duration::from_secs(5),
            ..Limits::default()
        },
        ..test_config()
    })
    .unwrap();
    for evil in [Evil::LogFlood, Evil::LogOutOfBounds] {
        let mut room = load(&host, &WatPlugin::evil(Hook::Tick, evil.clone()))
            .instantiate("r1", 1)
            .unwrap();
        call(&mut room, Hook::Create).unwrap();
        let out = call(&mut room, Hook::Tick).unwrap();
        assert_eq!(out, good_output(Hook::Tick));
        assert_eq!(room.errors(), 0);
        if matches!(evil, Evil::LogFlood) {
            // Burst of 50 admitted, the rest of 10,000 dropped and counted.
            assert!(
                room.stats().log_lines_dropped >= 9_000,
                "{:?}",
                room.stats()
            );
        }
    }
}

#[test]
fn a_restore_that_fails_keeps_the_room_poisoned_and_spends_the_budget() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            max_errors: 3,
            ..Limits::default()
        },
        ..test_config()
    })
    .unwrap();
    let mut room = load(&host, &WatPlugin::evil(Hook::Restore, Evil::Unreachable))
        .instantiate("r1", 1)
        .unwrap();
    let state = json!({});
    for n in 1..=3 {
        assert!(!room.error_budget_exceeded());
        let err = room.restore(&restore_input("r1", &state)).unwrap_err();
        assert!(
            matches!(
                err,
                PluginError::Trap {
                    hook: Hook::Restore,
                    ..
                }
            ),
            "{err}"
        );
        assert!(room.needs_restore());
        assert_eq!(room.errors(), n);
    }
    assert!(room.error_budget_exceeded());
}

#[test]
fn a_looping_start_function_is_cut_at_instantiation() {
    let host = PluginHost::new(test_config()).unwrap();
    let plugin = load(&host, &WatPlugin::good().with_looping_start());
    let err = plugin.instantiate("r1", 1).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::BudgetExhausted {
                hook: Hook::Start,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn random_u64_is_the_seeded_sequence_and_survives_restore() {
    let host = PluginHost::new(test_config()).unwrap();
    let plugin = load(
        &host,
        &WatPlugin::evil(Hook::Tick, Evil::Unreachable).with_random_message(),
    );
    let draw = |room: &mut RoomPlugin| -> u64 {
        let out = call(room, Hook::Message).unwrap();
        match &out.ops[0] {
            arbiter_state::PatchOp::Set { path, value } if path == "/r" => {
                value.as_u64().expect("u64")
            }
            other => panic!("{other:?}"),
        }
    };
    let mut expected = RoomRng::new(1234);
    let mut room = plugin.instantiate("r1", 1234).unwrap();
    assert_eq!(draw(&mut room), expected.next_u64());
    assert_eq!(draw(&mut room), expected.next_u64());
    // A failure and a rebuild do not reset the generator.
    assert!(call(&mut room, Hook::Tick).is_err());
    room.restore(&restore_input("r1", &json!({}))).unwrap();
    assert_eq!(draw(&mut room), expected.next_u64());

    // Interleaved rooms with other seeds do not disturb each other.
    let mut a = plugin.instantiate("a", 1).unwrap();
    let mut b = plugin.instantiate("b", 2).unwrap();
    let (mut ea, mut eb) = (RoomRng::new(1), RoomRng::new(2));
    for _ in 0..5 {
        assert_eq!(draw(&mut a), ea.next_u64());
        assert_eq!(draw(&mut b), eb.next_u64());
        assert_eq!(draw(&mut b), eb.next_u64());
    }
}

#[test]
fn many_rooms_stay_isolated_while_others_fail() {
    let host = PluginHost::new(test_config()).unwrap();
    let good = Arc::new(load(&host, &WatPlugin::good().with_random_message()));
    let evil = Arc::new(load(&host, &WatPlugin::evil(Hook::Tick, Evil::Loop)));
    // 200 good rooms ticking and drawing on one thread, 2 threads of looping
    // rooms at the same time.
    let spinners: Vec<_> = (0..2)
        .map(|t| {
            let evil = evil.clone();
            std::thread::spawn(move || {
                let mut errors = 0;
                for i in 0..5 {
                    let mut room = evil.instantiate(&format!("evil-{t}-{i}"), 0).unwrap();
                    call(&mut room, Hook::Create).unwrap();
                    if matches!(
                        call(&mut room, Hook::Tick),
                        Err(PluginError::BudgetExhausted { .. })
                    ) {
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let mut rooms: Vec<(RoomPlugin, Value, RoomRng)> = (0..200u64)
        .map(|i| {
            (
                good.instantiate(&format!("good-{i}"), i).unwrap(),
                json!({}),
                RoomRng::new(i),
            )
        })
        .collect();
    for (room, state, _) in &mut rooms {
        let out = call(room, Hook::Create).unwrap();
        room.commit(state, &out).unwrap();
    }
    for _ in 0..3 {
        for (room, state, rng) in &mut rooms {
            let out = call(room, Hook::Tick).unwrap();
            room.commit(state, &out).unwrap();
            let out = call(room, Hook::Message).unwrap();
            room.commit(state, &out).unwrap();
            assert_eq!(state["r"].as_u64(), Some(rng.next_u64()));
        }
    }
    for s in spinners {
        assert_eq!(s.join().unwrap(), 5);
    }
    for (room, state, _) in &rooms {
        assert_eq!(room.errors(), 0);
        assert_eq!(state["n"], json!(0));
        assert_eq!(state["tick"], json!(1));
    }
}

#[test]
fn compact_memory_and_pooling_enforce_the_same_limits() {
    use arbiter_plugin_host::{AllocationStrategy, MemoryStrategy};
    for (memory, allocation) in [
        (MemoryStrategy::Compact, AllocationStrategy::OnDemand),
        (
            MemoryStrategy::Compact,
            AllocationStrategy::Pooling { max_rooms: 8 },
        ),
        (
            MemoryStrategy::Guarded,
            AllocationStrategy::Pooling { max_rooms: 8 },
        ),
    ] {
        let host = PluginHost::new(HostConfig {
            memory,
            allocation,
            ..test_config()
        })
        .unwrap();
        let err = fail_restore_recover(
            &host,
            &WatPlugin::evil(Hook::Tick, Evil::GrowUntilRefused),
            Hook::Tick,
        );
        assert!(
            matches!(
                err,
                PluginError::MemoryLimit {
                    limit: 33_554_432,
                    ..
                }
            ),
            "{memory:?} {allocation:?}: {err}"
        );
        let err = fail_restore_recover(
            &host,
            &WatPlugin::evil(Hook::Message, Evil::Loop),
            Hook::Message,
        );
        assert!(matches!(err, PluginError::BudgetExhausted { .. }), "{err}");
        let err = fail_restore_recover(
            &host,
            &WatPlugin::evil(Hook::Tick, Evil::Output(vec![0xc1])),
            Hook::Tick,
        );
        assert!(matches!(err, PluginError::BadOutput { .. }), "{err}");
    }
}

#[test]
fn a_full_pool_is_a_capacity_error_not_a_plugin_failure() {
    let host = PluginHost::new(HostConfig {
        allocation: arbiter_plugin_host::AllocationStrategy::Pooling { max_rooms: 2 },
        ..test_config()
    })
    .unwrap();
    let plugin = load(&host, &WatPlugin::good());
    let a = plugin.instantiate("a", 1).unwrap();
    let _b = plugin.instantiate("b", 2).unwrap();
    let err = plugin.instantiate("c", 3).unwrap_err();
    assert!(matches!(err, PluginError::InstanceLimit { .. }), "{err}");
    assert!(!err.is_runtime_failure());
    drop(a);
    plugin.instantiate("c", 3).unwrap();
}

#[test]
fn an_input_over_the_memory_limit_is_refused_before_the_call() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        },
        ..test_config()
    })
    .unwrap();
    let mut room = load(&host, &WatPlugin::good())
        .instantiate("r1", 1)
        .unwrap();
    let huge = json!({ "blob": "x".repeat(2 << 20) });
    let err = room.restore(&restore_input("r1", &huge)).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::InputTooLarge {
                hook: Hook::Restore,
                limit: 1_048_576,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_runtime_failure());
    assert_eq!(room.errors(), 0);
    assert!(!room.needs_restore(), "the instance was not touched");
    call(&mut room, Hook::Create).unwrap();
}

#[test]
fn rooms_outliving_their_host_handle_still_have_a_deadline() {
    let host = PluginHost::new(test_config()).unwrap();
    let plugin = load(&host, &WatPlugin::evil(Hook::Tick, Evil::Loop));
    drop(host);
    let mut room = plugin.instantiate("r1", 1).unwrap();
    drop(plugin);
    call(&mut room, Hook::Create).unwrap();
    // The epoch ticker lives as long as any room of the host.
    assert!(matches!(
        call(&mut room, Hook::Tick),
        Err(PluginError::BudgetExhausted { .. })
    ));
}
