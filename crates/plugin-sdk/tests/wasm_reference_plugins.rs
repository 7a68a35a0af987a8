//! The SDK's WASM side, end to end: the reference plugins built by
//! `cargo xtask plugins` run under a minimal wasmtime host written straight from
//! `docs/plugin-abi.md` (alloc, write the MessagePack input, call the hook, unpack
//! `(ptr << 32) | len`, read the output).
//!
//! These tests need `target/plugins/*.wasm`; they fail (they do not skip) when the
//! files are missing. `cargo xtask test` builds them first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use arbiter_plugin_abi::{
    Client, CreateInput, HookOutput, IMPORT_MODULE, JoinInput, MessageInput, REQUIRED_EXPORTS,
    RestoreInput, Settings, Target, unpack_ptr_len,
};
use arbiter_plugin_sdk::PatchOp;
use serde::Serialize;
use serde_json::{Value, json};
use wasmtime::{Caller, Engine, Instance, Linker, Memory, Module, Store, TypedFunc};

fn plugin_path(room_type: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("target/plugins")
        .join(format!("{room_type}.wasm"))
}

/// The newest modification time of the Rust sources under `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().and_then(|m| m.modified()).ok()
        } else {
            None
        };
        newest = newest.max(time);
    }
    newest
}

fn load(engine: &Engine, room_type: &str) -> Module {
    let path = plugin_path(room_type);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `cargo xtask plugins` first",
            path.display()
        )
    });
    // Testing an old build would prove nothing about the current sources.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
    let sources = [
        "crates/plugin-sdk/src",
        "crates/plugin-abi/src",
        "crates/state/src",
    ]
    .iter()
    .map(|d| root.join(d))
    .chain([root.join("plugins").join(room_type).join("src")])
    .filter_map(|d| newest_source(&d))
    .max();
    if let Some(newest) = sources {
        assert!(
            newest <= built,
            "{} is older than its sources: run `cargo xtask plugins` first",
            path.display()
        );
    }
    Module::new(engine, bytes).expect("a valid module")
}

/// One engine and each module compiled once for the whole test binary.
fn compiled(room_type: &str) -> (Engine, Module) {
    static CACHE: OnceLock<Mutex<(Engine, HashMap<String, Module>)>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new((Engine::default(), HashMap::new())));
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    let (engine, modules) = &mut *guard;
    let module = modules
        .entry(room_type.to_owned())
        .or_insert_with(|| load(engine, room_type))
        .clone();
    (engine.clone(), module)
}

/// What the host keeps per instance: the log lines and the generator's state.
#[derive(Default)]
struct HostData {
    logs: Vec<(i32, String)>,
    draws: u64,
}

/// One plugin instance and the calls of the ABI.
struct Guest {
    store: Store<HostData>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    instance: Instance,
}

impl Guest {
    fn new(room_type: &str) -> Guest {
        let (engine, module) = compiled(room_type);
        let mut linker: Linker<HostData> = Linker::new(&engine);
        linker
            .func_wrap(
                IMPORT_MODULE,
                "random_u64",
                |mut c: Caller<'_, HostData>| {
                    c.data_mut().draws += 1;
                    c.data().draws as i64
                },
            )
            .unwrap();
        linker
            .func_wrap(
                IMPORT_MODULE,
                "log",
                |mut c: Caller<'_, HostData>, level: i32, ptr: i32, len: i32| {
                    let memory = c
                        .get_export("memory")
                        .and_then(|e| e.into_memory())
                        .unwrap();
                    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
                    let text =
                        String::from_utf8_lossy(&memory.data(&c)[ptr..ptr + len]).into_owned();
                    c.data_mut().logs.push((level, text));
                },
            )
            .unwrap();
        let mut store = Store::new(&engine, HostData::default());
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiate");
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let alloc = instance
            .get_typed_func(&mut store, "arbiter_alloc")
            .unwrap();
        Guest {
            store,
            memory,
            alloc,
            instance,
        }
    }

    /// Calls `arbiter_on_<hook>` with `input`; returns the decoded output.
    fn call<I: Serialize>(&mut self, hook: &str, input: &I) -> HookOutput {
        let bytes = rmp_serde::to_vec_named(input).unwrap();
        let ptr = self
            .alloc
            .call(&mut self.store, bytes.len() as i32)
            .unwrap();
        self.memory
            .write(&mut self.store, ptr as u32 as usize, &bytes)
            .unwrap();
        self.call_raw(hook, ptr, bytes.len() as i32)
    }

    fn call_raw(&mut self, hook: &str, ptr: i32, len: i32) -> HookOutput {
        let f: TypedFunc<(i32, i32), i64> = self
            .instance
            .get_typed_func(&mut self.store, &format!("arbiter_on_{hook}"))
            .unwrap();
        let packed = f.call(&mut self.store, (ptr, len)).expect("no trap");
        let (out_ptr, out_len) = unpack_ptr_len(packed);
        let data = self.memory.data(&self.store);
        let out = &data[out_ptr as usize..out_ptr as usize + out_len as usize];
        rmp_serde::from_slice(out).expect("a HookOutput")
    }
}

fn client(sid: &str) -> Client {
    Client {
        session_id: sid.into(),
        user_id: format!("u_{sid}"),
    }
}

fn create(room_type: &str, options: Value) -> CreateInput {
    CreateInput {
        room: format!("{room_type}-1"),
        room_type: room_type.into(),
        options,
        now_ms: 1_000,
    }
}

fn join(sid: &str) -> JoinInput {
    JoinInput {
        client: client(sid),
        options: Value::Null,
        now_ms: 1_001,
    }
}

fn message(sid: &str, kind: &str, data: Value) -> MessageInput {
    MessageInput {
        client: client(sid),
        kind: kind.into(),
        data: Some(data),
        bytes: None,
        now_ms: 1_002,
    }
}

#[test]
fn every_plugin_imports_only_arbiter_v1_and_exports_the_abi() {
    for room_type in ["counter", "arena", "tictactoe"] {
        let (_, module) = compiled(room_type);
        for import in module.imports() {
            assert_eq!(
                import.module(),
                IMPORT_MODULE,
                "{room_type}: {}",
                import.name()
            );
            assert!(
                ["random_u64", "log"].contains(&import.name()),
                "{room_type}: {}",
                import.name()
            );
        }
        let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
        for required in REQUIRED_EXPORTS {
            assert!(exports.contains(required), "{room_type} lacks {required}");
        }
    }
}

#[test]
fn counter_runs_through_the_abi() {
    let mut g = Guest::new("counter");
    let out = g.call("create", &create("counter", json!({})));
    assert_eq!(out.error, None);
    assert_eq!(out.settings, Some(Settings::default()));
    assert_eq!(out.ops, [PatchOp::set("/counter", json!(0))]);

    let out = g.call("join", &join("s_a"));
    assert_eq!(out, HookOutput::default());
    let out = g.call("message", &message("s_a", "inc", json!({ "by": 2 })));
    assert_eq!(out.ops, [PatchOp::set("/counter", json!(2))]);
    let out = g.call("message", &message("s_a", "inc", json!({ "by": "x" })));
    assert!(out.ops.is_empty());
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].to, Target::One("s_a".into()));
    assert_eq!(out.messages[0].kind, "error");
    // The mirror saw the first inc: the next one builds on it.
    let out = g.call("message", &message("s_a", "inc", json!({})));
    assert_eq!(out.ops, [PatchOp::set("/counter", json!(3))]);
}

#[test]
fn a_fresh_instance_restores_from_the_committed_state() {
    let mut g = Guest::new("counter");
    let out = g.call(
        "restore",
        &RestoreInput {
            room: "counter-1".into(),
            room_type: "counter".into(),
            options: json!({}),
            state: json!({ "counter": 41 }),
            clients: vec![client("s_a")],
            now_ms: 5,
        },
    );
    assert_eq!(out, HookOutput::default());
    let out = g.call("message", &message("s_a", "inc", Value::Null));
    assert_eq!(out.ops, [PatchOp::set("/counter", json!(42))]);
}

#[test]
fn bad_input_locations_and_bytes_are_error_outputs_not_traps() {
    let mut g = Guest::new("counter");
    g.call("create", &create("counter", json!({})));
    // An input that is not in the alloc buffer.
    let out = g.call_raw("message", 8, 4);
    assert!(out.error.unwrap().contains("arbiter_alloc"));
    // Garbage in the buffer.
    let ptr = g.alloc.call(&mut g.store, 3).unwrap();
    g.memory
        .write(&mut g.store, ptr as usize, &[0xc1, 0xc1, 0xc1])
        .unwrap();
    let out = g.call_raw("message", ptr, 3);
    assert!(out.error.unwrap().contains("undecodable"));
    // The instance still works.
    let out = g.call("join", &join("s_a"));
    assert_eq!(out.error, None);
}

#[test]
fn the_input_buffer_is_reused() {
    let mut g = Guest::new("counter");
    let a = g.alloc.call(&mut g.store, 256).unwrap();
    let b = g.alloc.call(&mut g.store, 64).unwrap();
    let c = g.alloc.call(&mut g.store, 256).unwrap();
    assert_eq!((a, a), (b, c));
}

#[test]
fn tictactoe_plays_a_game_through_the_abi() {
    let mut g = Guest::new("tictactoe");
    let out = g.call("create", &create("tictactoe", Value::Null));
    assert_eq!(out.settings.as_ref().map(|s| s.max_clients), Some(2));
    g.call("join", &join("s_x"));
    g.call("join", &join("s_o"));
    for (sid, cell) in [("s_x", 0), ("s_o", 3), ("s_x", 1), ("s_o", 4)] {
        let out = g.call("message", &message(sid, "move", json!({ "cell": cell })));
        assert_eq!(out.ops.len(), 2, "{out:?}");
    }
    let out = g.call("message", &message("s_x", "move", json!({ "cell": 2 })));
    assert!(out.ops.contains(&PatchOp::set("/winner", json!("X"))));
    assert_eq!(out.lock, Some(true));
    let out = g.call("message", &message("s_o", "move", json!({ "cell": 8 })));
    assert!(out.ops.is_empty() && out.messages[0].kind == "error");
}

#[test]
fn arena_reads_options_and_declares_move_unreliable() {
    let mut g = Guest::new("arena");
    let out = g.call("create", &create("arena", json!({ "max_clients": 3 })));
    let settings = out.settings.unwrap();
    assert_eq!((settings.max_clients, settings.tick_rate), (3, 20));
    assert_eq!(settings.unreliable, ["move"]);
    g.call("join", &join("s_a"));
    let out = g.call(
        "message",
        &message("s_a", "move", json!({ "x": 1.5, "y": 2 })),
    );
    assert_eq!(
        out.ops,
        [
            PatchOp::set("/players/s_a/x", json!(1.5)),
            PatchOp::set("/players/s_a/y", json!(2)),
        ]
    );
    let out = g.call("create", &create("arena", json!({ "max_clients": 0 })));
    assert!(out.error.unwrap().contains("max_clients"));
    assert!(g.store.data().logs.is_empty());
}
