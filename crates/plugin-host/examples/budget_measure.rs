//! Measures the two ways of bounding a hook, for `docs/plugin-host.md`:
//!
//! 1. overhead: one arena `move` hook (the real plugin) with no interruption
//!    compiled in (a bare wasmtime engine, same crossing), with epoch checks, with
//!    fuel, with both;
//! 2. fuel calibration: fuel burnt per millisecond by that hook and by two loops;
//! 3. cut-off precision: wall and thread-CPU time from the call to
//!    `BudgetExhausted` for a looping hook, per mode, with and without a busy
//!    competing thread on every core.
//!
//! ```text
//! cargo xtask plugins
//! cargo run --release -p arbiter-plugin-host --example budget_measure [target/plugins/arena.wasm]
//! ```
//!
//! Prints a small report; nothing is asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arbiter_plugin_abi::{
    Client, CreateInput, EXPORT_ALLOC, EXPORT_MEMORY, HookOutput, IMPORT_LOG, IMPORT_MODULE,
    IMPORT_RANDOM_U64, JoinInput, MessageInput, TickInput, exports, unpack_ptr_len,
};
use arbiter_plugin_host::{BudgetMode, HostConfig, PluginError, PluginHost, RoomPlugin};
use serde_json::json;
use wasmtime::{Caller, Config, Engine, Linker, Module, Store, TypedFunc};

const ITERS: u64 = 200_000;

fn client() -> Client {
    Client {
        session_id: "s_03Zk3xPq9LmT7vRw2YbN4c".into(),
        user_id: "user-03-4f9c2a7e81d3".into(),
    }
}

fn move_input(n: u64) -> MessageInput {
    MessageInput {
        client: client(),
        kind: "move".into(),
        data: Some(json!({
            "x": n as f64 * 0.5, "y": 100.0 - n as f64 * 0.25, "seq": n,
            "facing": "north-east", "anim": "run", "vx": 1.5, "vy": -0.75,
        })),
        bytes: None,
        now_ms: 1_700_000_000_000 + n,
    }
}

/// 1,024 precomputed moves (each changes the position: 2 ops), so that
/// building inputs is not measured.
fn moves() -> Vec<MessageInput> {
    (0..1024).map(move_input).collect()
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn host(budget: BudgetMode) -> PluginHost {
    PluginHost::new(HostConfig {
        budget,
        cache_dir: None,
        ..HostConfig::default()
    })
    .unwrap()
}

fn arena_room(host: &PluginHost, wasm: &[u8]) -> RoomPlugin {
    let plugin = host.load("arena", wasm).unwrap();
    let mut room = plugin.instantiate("arena-m", 1).unwrap();
    room.create(&CreateInput {
        room: "arena-m".into(),
        room_type: "arena".into(),
        options: json!({}),
        now_ms: 0,
    })
    .unwrap();
    room.join(&JoinInput {
        client: client(),
        options: json!({}),
        now_ms: 0,
    })
    .unwrap();
    room
}

/// Median of 5 runs of `ITERS` hooks, in ns per hook.
fn time_hooks(mut f: impl FnMut(u64)) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|r| {
            let t = Instant::now();
            for i in 0..ITERS {
                f(r * ITERS + i);
            }
            t.elapsed().as_nanos() as f64 / ITERS as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

/// The same crossing as the host, on an engine with no interruption at all.
struct Bare {
    store: Store<()>,
    memory: wasmtime::Memory,
    alloc: TypedFunc<i32, i32>,
    message: TypedFunc<(i32, i32), i64>,
    buf: Vec<u8>,
}

impl Bare {
    fn new(wasm: &[u8], epoch: bool, fuel: bool) -> Self {
        let mut config = Config::new();
        config.epoch_interruption(epoch).consume_fuel(fuel);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, wasm).unwrap();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(IMPORT_MODULE, IMPORT_RANDOM_U64, |_: Caller<'_, ()>| 4i64)
            .unwrap();
        linker
            .func_wrap(
                IMPORT_MODULE,
                IMPORT_LOG,
                |_: Caller<'_, ()>, _: i32, _: i32, _: i32| {},
            )
            .unwrap();
        let pre = linker.instantiate_pre(&module).unwrap();
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        if fuel {
            store.set_fuel(u64::MAX / 2).unwrap();
        }
        let inst = pre.instantiate(&mut store).unwrap();
        let memory = inst.get_memory(&mut store, EXPORT_MEMORY).unwrap();
        let alloc = inst.get_typed_func(&mut store, EXPORT_ALLOC).unwrap();
        let message = inst
            .get_typed_func(&mut store, exports::ON_MESSAGE)
            .unwrap();
        let mut bare = Bare {
            store,
            memory,
            alloc,
            message,
            buf: Vec::new(),
        };
        let create = inst
            .get_typed_func::<(i32, i32), i64>(&mut bare.store, exports::ON_CREATE)
            .unwrap();
        let join = inst
            .get_typed_func::<(i32, i32), i64>(&mut bare.store, exports::ON_JOIN)
            .unwrap();
        bare.call(
            &create,
            &CreateInput {
                room: "arena-m".into(),
                room_type: "arena".into(),
                options: json!({}),
                now_ms: 0,
            },
        );
        bare.call(
            &join,
            &JoinInput {
                client: client(),
                options: json!({}),
                now_ms: 0,
            },
        );
        bare
    }

    fn call<I: serde::Serialize>(
        &mut self,
        f: &TypedFunc<(i32, i32), i64>,
        input: &I,
    ) -> HookOutput {
        self.buf.clear();
        rmp_serde::encode::write_named(&mut self.buf, input).unwrap();
        let len = self.buf.len() as i32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory
            .write(&mut self.store, ptr as usize, &self.buf)
            .unwrap();
        let (p, l) = unpack_ptr_len(f.call(&mut self.store, (ptr, len)).unwrap());
        let data = &self.memory.data(&self.store)[p as usize..(p + l) as usize];
        rmp_serde::from_slice(data).unwrap()
    }
}

fn overhead(wasm: &[u8]) {
    let inputs = moves();
    println!(
        "## Overhead: arena `move` hook (~200 B input, 2 ops), ns per hook (median of 5 × {ITERS})"
    );
    let bare_time = |epoch, fuel| {
        let mut bare = Bare::new(wasm, epoch, fuel);
        let message = bare.message.clone();
        time_hooks(|n| {
            std::hint::black_box(bare.call(&message, &inputs[n as usize % 1024]));
        })
    };
    let base = bare_time(false, false);
    println!("| mode | ns/hook | vs none |");
    println!("|---|---|---|");
    println!("| bare wasmtime, no interruption | {base:.0} | - |");
    for (name, epoch, fuel) in [("epoch", true, false), ("fuel", false, true)] {
        let t = bare_time(epoch, fuel);
        println!(
            "| bare wasmtime, {name} compiled in | {t:.0} | {:+.1}% |",
            (t / base - 1.0) * 100.0
        );
    }
    for (name, mode) in [
        ("epoch", BudgetMode::Epoch),
        ("fuel", BudgetMode::Fuel),
        ("epoch+fuel", BudgetMode::EpochAndFuel),
    ] {
        let h = host(mode);
        let mut room = arena_room(&h, wasm);
        let t = time_hooks(|n| {
            std::hint::black_box(room.message(&inputs[n as usize % 1024]).unwrap());
        });
        let fuel = room.stats().last_hook_fuel;
        println!(
            "| host, {name} | {t:.0} | {:+.1}% |{}",
            (t / base - 1.0) * 100.0,
            fuel.map(|f| format!(" fuel/hook {f}")).unwrap_or_default()
        );
    }
    crossing();
    // Fuel per ms on the real hook.
    let h = host(BudgetMode::Fuel);
    let mut room = arena_room(&h, wasm);
    let t = time_hooks(|n| {
        std::hint::black_box(room.message(&inputs[n as usize % 1024]).unwrap());
    });
    let fuel = room.stats().last_hook_fuel.unwrap_or(0) as f64;
    println!(
        "\nfuel calibration, arena move: {fuel:.0} fuel in {t:.0} ns → {:.0} fuel/ms (host crossing included)",
        fuel / t * 1e6
    );
}

/// The host's own share: a WAT plugin whose `arbiter_on_message` does nothing
/// but return the arena's usual output (2 ops), fed the same ~200-byte input.
fn crossing() {
    let inputs = moves();
    let out = rmp_serde::to_vec_named(&json!({ "ops": [
        { "op": "set", "path": "/players/s_03Zk3xPq9LmT7vRw2YbN4c/x", "value": 10.5 },
        { "op": "set", "path": "/players/s_03Zk3xPq9LmT7vRw2YbN4c/y", "value": 94.75 },
    ]}))
    .unwrap();
    let esc: String = out.iter().map(|b| format!("\\{b:02x}")).collect();
    let packed = arbiter_plugin_abi::pack_ptr_len(0, out.len() as u32);
    let hooks: String = [
        exports::ON_CREATE,
        exports::ON_JOIN,
        exports::ON_LEAVE,
        exports::ON_MESSAGE,
        exports::ON_TICK,
        exports::ON_DISPOSE,
        exports::ON_RESTORE,
    ]
    .iter()
    .map(|h| format!("(func (export \"{h}\") (param i32 i32) (result i64) (i64.const {packed}))"))
    .collect();
    let wasm = wat::parse_str(format!(
        r#"(module (memory (export "memory") 2) (data (i32.const 0) "{esc}")
          (func (export "arbiter_alloc") (param i32) (result i32) (i32.const 4096)) {hooks})"#
    ))
    .unwrap();
    for (name, mode) in [("epoch", BudgetMode::Epoch), ("fuel", BudgetMode::Fuel)] {
        let h = host(mode);
        let mut room = h
            .load("echo", &wasm)
            .unwrap()
            .instantiate("echo", 1)
            .unwrap();
        let t = time_hooks(|n| {
            std::hint::black_box(room.message(&inputs[n as usize % 1024]).unwrap());
        });
        println!("| host crossing only (WAT, same input and output), {name} | {t:.0} | |");
    }
}

/// A plugin whose tick runs `body` forever; every other hook is trivial.
fn looping_plugin(prelude: &str, body: &str) -> Vec<u8> {
    let hooks: String = [
        exports::ON_CREATE,
        exports::ON_JOIN,
        exports::ON_LEAVE,
        exports::ON_MESSAGE,
        exports::ON_DISPOSE,
        exports::ON_RESTORE,
    ]
    .iter()
    .map(|h| format!("(func (export \"{h}\") (param i32 i32) (result i64) (i64.const 1))"))
    .collect();
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 2)
          (data (i32.const 0) "\80")
          (func (export "arbiter_alloc") (param i32) (result i32) (i32.const 1024))
          {hooks}
          (func (export "arbiter_on_tick") (param i32 i32) (result i64) (local $i i32) (local $acc i32)
            {prelude} (loop $l {body} (br $l)) (unreachable)))"#
    ))
    .unwrap()
}

/// Random 4-byte stores over a 32 MiB memory: cache and TLB misses, few operators.
const SCATTER_PRELUDE: &str = "(drop (memory.grow (i32.const 510)))";
const SCATTER: &str = "(local.set $i (i32.add (i32.mul (local.get $i) (i32.const 1103515245)) (i32.const 12345))) (i32.store (i32.and (local.get $i) (i32.const 0x1fffffc)) (local.get $i))";

const TIGHT: &str = "(local.set $i (i32.add (local.get $i) (i32.const 1)))";
const MEMORY: &str = "(i32.store (i32.and (local.get $i) (i32.const 0xfffc)) (i32.add (local.get $acc) (i32.load (i32.and (i32.mul (local.get $i) (i32.const 7)) (i32.const 0xfffc))))) (local.set $acc (i32.xor (local.get $acc) (local.get $i))) (local.set $i (i32.add (local.get $i) (i32.const 1)))";

fn cutoff(name: &str, mode: BudgetMode, wasm: &[u8], runs: usize) -> (Vec<f64>, Vec<f64>) {
    let h = host(mode);
    let plugin = h.load("loop", wasm).unwrap();
    let mut room = plugin.instantiate("loop", 1).unwrap();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, c) = (Instant::now(), thread_cpu());
        let err = room
            .tick(&TickInput {
                dt_ms: 1,
                now_ms: 1,
            })
            .unwrap_err();
        let (dt, dc) = (t.elapsed(), thread_cpu() - c);
        assert!(
            matches!(err, PluginError::BudgetExhausted { .. }),
            "{name}: {err}"
        );
        wall.push(dt.as_secs_f64() * 1e3);
        cpu.push(dc.as_secs_f64() * 1e3);
        room.restore(&arbiter_plugin_abi::RestoreInput {
            room: "loop".into(),
            room_type: "loop".into(),
            options: json!({}),
            state: json!({}),
            clients: vec![],
            now_ms: 1,
        })
        .unwrap();
    }
    (wall, cpu)
}

fn stats(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.2} / {:.2} / {:.2}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn precision() {
    println!(
        "\n## Cut-off of a looping hook, budget 5 ms (fuel: {} per ms): ms min / median / max over 30 runs",
        arbiter_plugin_host::DEFAULT_FUEL_PER_MS
    );
    println!("| loop | mode | load | wall | thread CPU |");
    println!("|---|---|---|---|---|");
    for (lname, prelude, body) in [
        ("tight", "", TIGHT),
        ("memory", "", MEMORY),
        ("scatter 32 MiB", SCATTER_PRELUDE, SCATTER),
    ] {
        let wasm = looping_plugin(prelude, body);
        for load in [false, true] {
            let stop = Arc::new(AtomicBool::new(false));
            let burners: Vec<_> = (0..if load { 2 } else { 0 })
                .map(|_| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let mut x = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            x = std::hint::black_box(x.wrapping_add(1));
                        }
                    })
                })
                .collect();
            for (mname, mode) in [("epoch", BudgetMode::Epoch), ("fuel", BudgetMode::Fuel)] {
                let (mut wall, mut cpu) = cutoff(lname, mode, &wasm, 30);
                println!(
                    "| {lname} | {mname} | {} | {} | {} |",
                    if load { "2 busy threads" } else { "idle" },
                    stats(&mut wall),
                    stats(&mut cpu)
                );
            }
            stop.store(true, Ordering::Relaxed);
            for b in burners {
                b.join().unwrap();
            }
        }
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/plugins/arena.wasm".into());
    if std::env::var_os("ONLY_CROSSING").is_some() {
        crossing();
        return;
    }
    if std::env::var_os("ONLY_HOST_EPOCH").is_some() {
        // For profiling the host side: epoch-mode hooks only.
        let wasm = std::fs::read(&path).unwrap();
        let h = host(BudgetMode::Epoch);
        let mut room = arena_room(&h, &wasm);
        let inputs = moves();
        let t = time_hooks(|n| {
            std::hint::black_box(room.message(&inputs[n as usize % 1024]).unwrap());
        });
        println!("host epoch: {t:.0} ns/hook");
        return;
    }
    match std::fs::read(&path) {
        Ok(wasm) => {
            load_times(&wasm);
            overhead(&wasm);
        }
        Err(e) => println!("{path}: {e} (run `cargo xtask plugins`); skipping the overhead part"),
    }
    precision();
    ticker_cost();
}

/// Load time of the plugin: compiled, then from the cache.
fn load_times(wasm: &[u8]) {
    let dir = std::env::temp_dir().join(format!("arbiter-measure-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for _ in 0..2 {
        let h = PluginHost::new(HostConfig {
            cache_dir: Some(dir.clone()),
            ..HostConfig::default()
        })
        .unwrap();
        let t = Instant::now();
        let p = h.load("arena", wasm).unwrap();
        println!(
            "load arena ({} bytes): {:?} in {:.1} ms",
            wasm.len(),
            p.source(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU the epoch ticker costs an otherwise idle process.
fn ticker_cost() {
    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    let h = host(BudgetMode::Epoch);
    let (t, c) = (Instant::now(), process_cpu());
    std::thread::sleep(Duration::from_secs(3));
    let share = (process_cpu() - c).as_secs_f64() / t.elapsed().as_secs_f64();
    drop(h);
    println!(
        "\nepoch ticker (1 ms): {:.3}% of one core while idle",
        share * 100.0
    );
}
