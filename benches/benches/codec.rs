//! Codec micro-benchmarks (WORKLOAD.md): encode and decode of one `state.patch`
//! of an 8-player arena tick (8 `set` ops on x/y) in each codec, and decode of
//! the `room.message` `move` every arena client sends 20 times a second.
//!
//! Encoding writes into a reused buffer, as the server's fan-out does (a patch
//! is encoded once per codec per room per tick). Decoding the patch is the
//! client's side (server-frame limits); decoding the move is the server's side
//! (client-frame limits). Throughput is in bytes of the encoded frame.

use std::hint::black_box;

use arbiter_protocol::{
    Checksum, ClientFrame, Codec, Limits, RoomId, RoomMessage, Seq, ServerFrame, StatePatch,
};
use arbiter_state::PatchOp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn room() -> RoomId {
    RoomId::new("arena-1").expect("valid room id")
}

/// One arena tick: 8 players, each moved on one axis.
fn arena_patch() -> ServerFrame {
    let ops = (0..8)
        .map(|i| {
            let axis = if i % 2 == 0 { "x" } else { "y" };
            PatchOp::Set {
                path: format!("/players/s_{i:02}k3f9q2m7xw4/{axis}"),
                value: json!(100.0 + f64::from(i) * 37.25),
            }
        })
        .collect();
    ServerFrame::new(StatePatch {
        seq: Seq(1_042),
        ops,
        checksum: Some(Checksum(0x6304_0b70_2d7b_e67f)),
    })
    .in_room(room())
}

fn move_message() -> ClientFrame {
    ClientFrame::new(RoomMessage {
        kind: "move".into(),
        data: json!({ "x": 412.75, "y": 96.5 }),
    })
    .in_room(room())
}

fn bench_patch(c: &mut Criterion) {
    let frame = arena_patch();
    for codec in Codec::SUPPORTED {
        let mut encoded = Vec::new();
        codec.encode_server(&frame, &mut encoded).expect("encodes");
        let mut group = c.benchmark_group(format!("state.patch 8 ops/{codec}"));
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        let mut buf = Vec::with_capacity(1024);
        group.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                codec
                    .encode_server(black_box(&frame), &mut buf)
                    .expect("encodes");
                black_box(buf.len())
            })
        });
        let limits = Limits::for_server_frames();
        group.bench_function("decode", |b| {
            b.iter(|| {
                codec
                    .decode_server(black_box(&encoded), &limits)
                    .expect("decodes")
            })
        });
        group.finish();
    }
}

fn bench_move(c: &mut Criterion) {
    let frame = move_message();
    for codec in Codec::SUPPORTED {
        let mut encoded = Vec::new();
        codec.encode_client(&frame, &mut encoded).expect("encodes");
        let mut group = c.benchmark_group(format!("room.message move/{codec}"));
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        let limits = Limits::default();
        group.bench_function("decode", |b| {
            b.iter(|| {
                codec
                    .decode_client(black_box(&encoded), &limits)
                    .expect("decodes")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_patch, bench_move);
criterion_main!(benches);
