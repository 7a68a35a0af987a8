//! Plugin host micro-benchmarks (WORKLOAD.md): one `on_message` call with a
//! ~200-byte input, a room tick with 8 players, instantiation from `InstancePre`.
//!
//! They run the real reference plugins from `target/plugins/` (build them with
//! `cargo xtask plugins`), under each budget mode so that the cost of epoch
//! checks and fuel counting can be set side by side, and under each memory /
//! allocation strategy for instantiation.
//!
//! ```text
//! cargo xtask plugins && cargo bench -p arbiter-benches --bench plugin
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use arbiter_plugin_abi::{Client, CreateInput, JoinInput, MessageInput, TickInput};
use arbiter_plugin_host::{
    AllocationStrategy, BudgetMode, HostConfig, MemoryStrategy, Plugin, PluginHost, RoomPlugin,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn workspace_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn host(budget: BudgetMode, memory: MemoryStrategy, allocation: AllocationStrategy) -> PluginHost {
    PluginHost::new(HostConfig {
        budget,
        memory,
        allocation,
        cache_dir: Some(workspace_target().join("plugin-cache")),
        ..HostConfig::default()
    })
    .expect("plugin host")
}

fn load(host: &PluginHost, room_type: &str) -> Plugin {
    let path = workspace_target()
        .join("plugins")
        .join(format!("{room_type}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask plugins` before `cargo bench --bench plugin`",
        path.display()
    );
    host.load_file(room_type, &path)
        .expect("reference plugin loads")
}

fn client(i: usize) -> Client {
    Client {
        session_id: format!("s_{i:02}Zk3xPq9LmT7vRw2YbN4c"),
        user_id: format!("user-{i:02}-4f9c2a7e81d3"),
    }
}

/// An arena room with `players` joined, its committed state beside it.
fn arena_room(plugin: &Plugin, players: usize) -> (RoomPlugin, Value) {
    let mut room = plugin.instantiate("arena-bench", 7).unwrap();
    let mut state = json!({});
    let (_, out) = room
        .create(&CreateInput {
            room: "arena-bench".into(),
            room_type: "arena".into(),
            options: json!({}),
            now_ms: 1_700_000_000_000,
        })
        .unwrap();
    room.commit(&mut state, &out).unwrap();
    for i in 0..players {
        let out = room
            .join(&JoinInput {
                client: client(i),
                options: json!({ "name": format!("player {i}") }),
                now_ms: 1_700_000_000_000,
            })
            .unwrap();
        room.commit(&mut state, &out).unwrap();
    }
    (room, state)
}

/// A `move` of about 200 bytes once encoded (WORKLOAD.md): the client, the
/// type, `{x, y}` plus the fields a real client sends along.
fn move_input(i: usize, n: u64) -> MessageInput {
    MessageInput {
        client: client(i),
        kind: "move".into(),
        data: Some(json!({
            "x": n as f64 * 0.5,
            "y": 100.0 - n as f64 * 0.25,
            "seq": n,
            "facing": "north-east",
            "anim": "run",
            "vx": 1.5, "vy": -0.75,
        })),
        bytes: None,
        now_ms: 1_700_000_000_000 + n,
    }
}

/// Precomputed `move`s cycling through positions, so that each call changes
/// the sender's position (2 ops) and building the input is not measured.
fn moves(player: usize) -> Vec<MessageInput> {
    (0..1024).map(|n| move_input(player, n)).collect()
}

const MODES: [(&str, BudgetMode); 3] = [
    ("epoch", BudgetMode::Epoch),
    ("fuel", BudgetMode::Fuel),
    ("epoch+fuel", BudgetMode::EpochAndFuel),
];

fn bench_message(c: &mut Criterion) {
    let size = rmp_serde::to_vec_named(&move_input(0, 12_345))
        .unwrap()
        .len();
    eprintln!("arena move input: {size} bytes of MessagePack");
    let mut g = c.benchmark_group("plugin/arena_message_200B");
    for (name, mode) in MODES {
        let host = host(mode, MemoryStrategy::Guarded, AllocationStrategy::OnDemand);
        let plugin = load(&host, "arena");
        let (mut room, mut state) = arena_room(&plugin, 8);
        let inputs = moves(3);
        if mode.uses_fuel() {
            // Fuel counts wasm operators: a noise-free measure of the guest's work.
            // inputs[0]: the loop below starts at inputs[1], so consecutive
            // moves always differ (a move to the same place writes nothing).
            room.message(&inputs[0]).unwrap();
            let fuel = room.stats().last_hook_fuel.unwrap_or(0);
            eprintln!("arena move hook: {fuel} fuel (wasm operators, host entry included)");
        }
        let mut n = 0usize;
        g.bench_function(BenchmarkId::new("hook", name), |b| {
            b.iter(|| {
                n = (n + 1) % inputs.len();
                let out = room.message(black_box(&inputs[n])).unwrap();
                debug_assert_eq!(out.ops.len(), 2);
                black_box(out)
            })
        });
        g.bench_function(BenchmarkId::new("hook+commit", name), |b| {
            b.iter(|| {
                n = (n + 1) % inputs.len();
                let out = room.message(black_box(&inputs[n])).unwrap();
                room.commit(&mut state, &out).unwrap();
            })
        });
        assert_eq!(room.errors(), 0);
    }
    g.finish();

    let mut g = c.benchmark_group("plugin/counter_inc");
    let host = host(
        BudgetMode::Epoch,
        MemoryStrategy::Guarded,
        AllocationStrategy::OnDemand,
    );
    let plugin = load(&host, "counter");
    let mut room = plugin.instantiate("counter-bench", 1).unwrap();
    let mut state = json!({});
    let (_, out) = room
        .create(&CreateInput {
            room: "counter-bench".into(),
            room_type: "counter".into(),
            options: json!({}),
            now_ms: 0,
        })
        .unwrap();
    room.commit(&mut state, &out).unwrap();
    let inc = MessageInput {
        client: client(0),
        kind: "inc".into(),
        data: Some(json!({ "by": 1 })),
        bytes: None,
        now_ms: 1,
    };
    g.bench_function("hook+commit/epoch", |b| {
        b.iter(|| {
            let out = room.message(black_box(&inc)).unwrap();
            room.commit(&mut state, &out).unwrap();
        })
    });
    g.finish();
}

fn bench_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("plugin/arena_tick_8p");
    for (name, mode) in MODES {
        let host = host(mode, MemoryStrategy::Guarded, AllocationStrategy::OnDemand);
        let plugin = load(&host, "arena");
        let (mut room, mut state) = arena_room(&plugin, 8);
        let mut now = 1_700_000_000_000u64;
        g.bench_function(BenchmarkId::new("tick", name), |b| {
            b.iter(|| {
                now += 50;
                black_box(
                    room.tick(&TickInput {
                        dt_ms: 50,
                        now_ms: now,
                    })
                    .unwrap(),
                )
            })
        });
        // A whole 20 Hz room tick of the arena-move workload: each of the 8
        // players' move, then the tick, every output committed.
        let inputs: Vec<Vec<MessageInput>> = (0..8).map(moves).collect();
        let mut n = 0usize;
        g.bench_function(BenchmarkId::new("8_moves+tick", name), |b| {
            b.iter(|| {
                n = (n + 1) % 1024;
                for player in &inputs {
                    let out = room.message(&player[n]).unwrap();
                    room.commit(&mut state, &out).unwrap();
                }
                now += 50;
                let out = room
                    .tick(&TickInput {
                        dt_ms: 50,
                        now_ms: now,
                    })
                    .unwrap();
                room.commit(&mut state, &out).unwrap();
            })
        });
    }
    g.finish();
}

fn bench_instantiate(c: &mut Criterion) {
    let mut g = c.benchmark_group("plugin/instantiate_arena");
    let configs = [
        (
            "on-demand+guarded",
            MemoryStrategy::Guarded,
            AllocationStrategy::OnDemand,
        ),
        (
            "on-demand+compact",
            MemoryStrategy::Compact,
            AllocationStrategy::OnDemand,
        ),
        (
            "pooling+compact",
            MemoryStrategy::Compact,
            AllocationStrategy::Pooling { max_rooms: 1_000 },
        ),
    ];
    for (name, memory, allocation) in configs {
        let host = host(BudgetMode::Epoch, memory, allocation);
        let plugin = load(&host, "arena");
        g.bench_function(BenchmarkId::new("instantiate", name), |b| {
            b.iter(|| black_box(plugin.instantiate("arena-bench", 7).unwrap()))
        });
        // Instantiate plus the create hook: what opening a room costs the host.
        g.bench_function(BenchmarkId::new("instantiate+create", name), |b| {
            b.iter(|| {
                let mut room = plugin.instantiate("arena-bench", 7).unwrap();
                black_box(
                    room.create(&CreateInput {
                        room: "arena-bench".into(),
                        room_type: "arena".into(),
                        options: json!({}),
                        now_ms: 0,
                    })
                    .unwrap(),
                );
            })
        });
        // The message hook under this memory layout (bounds checks or not).
        let (mut room, _) = arena_room(&plugin, 8);
        let inputs = moves(3);
        let mut n = 0usize;
        g.bench_function(BenchmarkId::new("message_hook", name), |b| {
            b.iter(|| {
                n = (n + 1) % inputs.len();
                black_box(room.message(&inputs[n]).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_message, bench_tick, bench_instantiate
}
criterion_main!(benches);
