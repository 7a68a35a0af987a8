//! Matchmaking throughput: 10,000 tickets (size 4, four regions, skills spread
//! over 0..3000) enqueued at once, then polled on a virtual clock until the
//! queue is empty (matched, or timed out after `ticket_ttl`). Throughput is in
//! matches formed.
//!
//! `cargo bench -p arbiter-matchmaker -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use arbiter_matchmaker::{
    EnqueueRequest, Event, InMemoryBackend, Matchmaker, MatchmakerConfig, QueueRules,
};
use arbiter_protocol::SessionId;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const TICKETS: usize = 10_000;
const REGIONS: [&str; 4] = ["eu", "us", "asia", "sa"];

/// A small deterministic generator so that every run sees the same queue.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn requests() -> Vec<EnqueueRequest> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    (0..TICKETS)
        .map(|i| {
            // The sum of three uniforms: most players near 1500, a few far out.
            let skill: u64 = (0..3).map(|_| rng.next() % 1000).sum();
            let region = REGIONS[(rng.next() % 4) as usize];
            EnqueueRequest {
                project: "bench".into(),
                session: SessionId::new(format!("s_{i}")).expect("valid id"),
                room_type: "arena".into(),
                size: 4,
                max_clients: Some(8),
                properties: json!({ "region": region, "skill": skill })
                    .as_object()
                    .cloned(),
                party: None,
            }
        })
        .collect()
}

fn enqueue_all(reqs: &[EnqueueRequest], t0: Instant) -> Matchmaker {
    let mut mm = Matchmaker::default();
    for r in reqs {
        mm.enqueue(r.clone(), t0).expect("valid request");
    }
    mm
}

/// Polls at each deadline until nothing is left; returns (matches, timeouts,
/// polls).
fn run_until_done(mm: &mut Matchmaker, t0: Instant) -> (u64, u64, u64) {
    let (mut matched, mut timed_out, mut polls) = (0, 0, 0);
    let mut now = t0;
    while let Some(deadline) = mm.next_deadline() {
        now = now.max(deadline);
        polls += 1;
        for e in mm.poll(now) {
            match e {
                Event::Matched(m) => {
                    black_box(&m);
                    matched += 1;
                }
                Event::TimedOut { .. } => timed_out += 1,
            }
        }
    }
    (matched, timed_out, polls)
}

fn bench(c: &mut Criterion) {
    let reqs = requests();
    let t0 = Instant::now();
    let (matches, timed_out, polls) = run_until_done(&mut enqueue_all(&reqs, t0), t0);
    eprintln!("{TICKETS} tickets -> {matches} matches, {timed_out} timed out, in {polls} polls");

    let mut group = c.benchmark_group("matchmaker");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(matches));
    group.bench_function("enqueue_10k_and_match", |b| {
        b.iter(|| {
            let mut mm = enqueue_all(&reqs, t0);
            black_box(run_until_done(&mut mm, t0))
        })
    });
    group.bench_function("match_10k_queued", |b| {
        b.iter_batched(
            || enqueue_all(&reqs, t0),
            |mut mm| black_box(run_until_done(&mut mm, t0)),
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // The steady-state cost of one enqueue + poll when a queue already holds
    // 2,500 tickets that cannot match each other (skills 1,001 apart, beyond
    // the widest window): the queue is re-read and re-examined.
    let mut group = c.benchmark_group("matchmaker_steady");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    let config = MatchmakerConfig {
        default_rules: QueueRules {
            ticket_ttl: Duration::from_secs(10 * 86_400),
            ..QueueRules::default()
        },
        ..MatchmakerConfig::default()
    };
    let mut mm = Matchmaker::new(config, InMemoryBackend::new());
    let stray = |i: u64| EnqueueRequest {
        project: "bench".into(),
        session: SessionId::new(format!("s_{i}")).expect("valid id"),
        room_type: "arena".into(),
        size: 2,
        max_clients: Some(8),
        properties: json!({ "region": "eu", "skill": i * 1001 })
            .as_object()
            .cloned(),
        party: None,
    };
    for i in 0..2_500 {
        mm.enqueue(stray(i), t0).expect("valid request");
    }
    assert!(mm.poll(t0).is_empty());
    let newcomer = stray(1_000_000);
    // Each step is past the 50 ms batching interval, so every poll examines
    // the queue (tickets live 10 days here, so none expires meanwhile).
    let mut now = t0;
    group.bench_function("enqueue_and_poll_2500_queued", |b| {
        b.iter(|| {
            now += Duration::from_millis(60);
            mm.enqueue(newcomer.clone(), now).expect("valid request");
            black_box(mm.poll(now));
            mm.dequeue("bench", &newcomer.session, None)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
