//! Room and fan-out micro-benchmarks (WORKLOAD.md, issue 8): one patch into
//! 1,000 sessions' outboxes, and a `counter` room handling messages with
//! fan-out to 50 members — the room actor's work without the channel.
//!
//! ```text
//! cargo xtask plugins && cargo bench -p arbiter-benches --bench room
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbiter_plugin_host::{HostConfig, PluginHost};
use arbiter_protocol::{RoomId, Seq, ServerFrame, SessionId, SharedFrame, StatePatch};
use arbiter_room::{Delivery, JoinRequest, MessageBody, Output, Room, RoomConfig, RoomInit};
use arbiter_runtime::{Metrics, Outbox, PluginLogic};
use arbiter_state::PatchOp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn workspace_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn arena_patch() -> Arc<SharedFrame> {
    let ops = (0..8)
        .flat_map(|i| {
            let p = format!("/players/s_{i:02}Zk3xPq9LmT7vRw2YbN4c");
            [
                PatchOp::set(format!("{p}/x"), json!(120.5 + f64::from(i))),
                PatchOp::set(format!("{p}/y"), json!(64.25)),
            ]
        })
        .collect();
    let frame = ServerFrame::new(StatePatch {
        seq: Seq(42),
        ops,
        checksum: Some(arbiter_protocol::Checksum(0x63040b702d7be67f)),
    })
    .in_room(RoomId::new("arena-1").unwrap());
    SharedFrame::new(frame)
}

fn fanout(c: &mut Criterion) {
    let outboxes: Vec<Outbox> = (0..1000).map(|_| Outbox::new(1000)).collect();
    let mut epochs: Vec<u64> = outboxes.iter().map(Outbox::reopen).collect();
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("one_patch_to_1000_outboxes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let frame = arena_patch();
                let start = Instant::now();
                // Encoded once per codec, whatever the number of recipients.
                black_box(frame.encoded(arbiter_protocol::Codec::MsgPack).unwrap());
                for (outbox, epoch) in outboxes.iter().zip(&epochs) {
                    black_box(outbox.push(*epoch, frame.clone(), Delivery::Reliable));
                }
                total += start.elapsed();
                for (outbox, epoch) in outboxes.iter().zip(epochs.iter_mut()) {
                    *epoch = outbox.reopen();
                }
            }
            total
        });
    });
    group.finish();
}

struct Members {
    links: HashMap<SessionId, (Outbox, u64)>,
}

impl Members {
    fn deliver(&mut self, room: &mut Room<PluginLogic>) {
        for output in room.drain_output() {
            if let Output::Send {
                to,
                frame,
                delivery,
            } = output
                && let Some((outbox, epoch)) = self.links.get(&to)
            {
                black_box(outbox.push(*epoch, frame, delivery));
            }
        }
    }

    fn clear(&mut self) {
        for (outbox, epoch) in self.links.values_mut() {
            *epoch = outbox.reopen();
        }
    }
}

fn counter_room(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(workspace_target().join("plugin-cache")),
        ..HostConfig::default()
    })
    .expect("plugin host");
    let path = workspace_target().join("plugins/counter.wasm");
    assert!(path.is_file(), "run `cargo xtask plugins` first");
    let plugin = host.load_file("counter", &path).expect("counter loads");
    let metrics = Arc::new(Metrics::new());
    let logic = PluginLogic::new(plugin.instantiate("c-1", 1).unwrap(), "counter", metrics);
    let init = RoomInit {
        id: RoomId::new("c-1").unwrap(),
        room_type: "counter".into(),
        options: json!({}),
        now_ms: 0,
    };
    let mut room = Room::create(init, logic, RoomConfig::default()).unwrap();
    let mut members = Members {
        links: HashMap::new(),
    };
    let sessions: Vec<SessionId> = (0..50)
        .map(|i| SessionId::new(format!("s_{i:02}Zk3xPq9LmT7vRw2YbN4c")).unwrap())
        .collect();
    for s in &sessions {
        let outbox = Outbox::new(100_000);
        let epoch = outbox.reopen();
        members.links.insert(s.clone(), (outbox, epoch));
        room.join(
            JoinRequest {
                session: s.clone(),
                user_id: s.as_str().to_owned(),
                options: Value::Null,
                rid: None,
                created: false,
            },
            0,
        );
        members.deliver(&mut room);
    }
    members.clear();
    const BATCH: u64 = 256;
    let mut group = c.benchmark_group("room");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("counter_256_incs_then_flush_50_members", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BATCH {
                    let who = &sessions[i as usize % sessions.len()];
                    let body = MessageBody::Json(json!({ "by": 1 }));
                    room.message(who, None, "inc".into(), body, i);
                }
                room.flush();
                members.deliver(&mut room);
                total += start.elapsed();
                members.clear();
            }
            total
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = fanout, counter_room
}
criterion_main!(benches);
