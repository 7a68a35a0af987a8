//! State micro-benchmarks (WORKLOAD.md): diff, apply and checksum of a ~1 KB and a
//! ~100 KB game-like state.
//!
//! The state is an arena: a `players` map keyed by session id (position, velocity,
//! health, inventory array), a `projectiles` array and a few scalars. One tick moves
//! every player and projectile, damages a few players, spawns one projectile and
//! retires the oldest: the shape of a real 20 Hz patch. Throughput is reported in
//! bytes of canonical JSON of the state.

use std::hint::black_box;

use arbiter_state::{Value, apply, canonical_json, checksum, diff};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, json};

/// A tiny deterministic generator, so every run benchmarks the same documents.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A coordinate with two decimals, as games usually round positions.
    fn coord(&mut self, max: f64) -> f64 {
        (self.unit() * max * 100.0).round() / 100.0
    }
}

fn player(rng: &mut Lcg, i: usize) -> Value {
    let items = ["sword", "shield", "potion", "bow", "arrows", "key"];
    let inventory: Vec<&str> = items.iter().copied().take(1 + i % items.len()).collect();
    json!({
        "name": format!("player-{i}"),
        "x": rng.coord(800.0), "y": rng.coord(600.0),
        "vx": rng.coord(4.0) - 2.0, "vy": rng.coord(4.0) - 2.0,
        "hp": 100, "score": i * 3, "alive": true,
        "inventory": inventory,
    })
}

fn projectile(rng: &mut Lcg, id: usize) -> Value {
    json!({ "id": id, "owner": format!("s_{:06x}", id % 97), "x": rng.coord(800.0), "y": rng.coord(600.0), "dx": 1.5, "dy": -0.5 })
}

fn arena(players: usize, projectiles: usize) -> Value {
    let mut rng = Lcg(7);
    let mut map = Map::new();
    for i in 0..players {
        map.insert(format!("s_{:06x}", i * 7919), player(&mut rng, i));
    }
    let shots: Vec<Value> = (0..projectiles)
        .map(|id| projectile(&mut rng, id))
        .collect();
    json!({ "tick": 1000, "phase": "playing", "players": map, "projectiles": shots, "bounds": [800, 600] })
}

/// One tick later: everything moves, a few players are hit, one shot spawns and the
/// oldest one expires.
fn next_tick(state: &Value) -> Value {
    let mut next = state.clone();
    let mut rng = Lcg(11);
    next["tick"] = json!(1001);
    if let Some(players) = next["players"].as_object_mut() {
        for (i, p) in players.values_mut().enumerate() {
            p["x"] = json!(rng.coord(800.0));
            p["y"] = json!(rng.coord(600.0));
            if i % 5 == 0 {
                p["hp"] = json!(90 - i % 40);
            }
        }
    }
    if let Some(shots) = next["projectiles"].as_array_mut() {
        for s in shots.iter_mut() {
            s["x"] = json!(rng.coord(800.0));
            s["y"] = json!(rng.coord(600.0));
        }
        let id = shots.len() + 1;
        shots.push(projectile(&mut rng, id));
        if !shots.is_empty() {
            shots.remove(0);
        }
    }
    next
}

fn bench_size(c: &mut Criterion, label: &str, before: &Value) {
    let after = next_tick(before);
    let ops = diff(before, &after);
    let bytes = canonical_json(before).len() as u64;
    eprintln!(
        "state/{label}: {bytes} bytes of canonical JSON, a tick of {} ops",
        ops.len()
    );
    let mut group = c.benchmark_group(format!("state/{label}"));
    group.throughput(Throughput::Bytes(bytes));

    group.bench_function("diff", |b| {
        b.iter(|| diff(black_box(before), black_box(&after)))
    });
    group.bench_function(format!("apply ({} ops)", ops.len()), |b| {
        b.iter_batched_ref(
            || before.clone(),
            |doc| apply(doc, black_box(&ops)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("checksum", |b| b.iter(|| checksum(black_box(&after))));
    group.bench_function("canonical_json", |b| {
        b.iter(|| canonical_json(black_box(&after)))
    });
    group.finish();
}

fn state_benches(c: &mut Criterion) {
    // ~1 KB: a small match; ~100 KB: a crowded arena.
    bench_size(c, "1KB", &arena(4, 3));
    bench_size(c, "100KB", &arena(480, 300));
}

criterion_group!(benches, state_benches);
criterion_main!(benches);
