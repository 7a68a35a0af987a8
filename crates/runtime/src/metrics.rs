//! Prometheus metrics of a running server.
//!
//! One [`Metrics`] value is created by the binary, shared as `Arc<Metrics>` with
//! the runtime (which updates it) and with the admin HTTP server (which serves
//! [`Metrics::encode_text`] on `/metrics`). Every metric lives in the value's own
//! [`Registry`], never in prometheus' process-global default registry, so tests
//! can create as many as they like.
//!
//! Names are prefixed `arbiter_`. Label values must come from bounded sets
//! (catalog message types, room types of loaded plugins, error codes, the
//! fixed reason strings documented on each field): an unbounded label (a room
//! id, a session id) would grow the registry forever. `docs/running.md` lists
//! every metric with what to watch.
//!
//! ```
//! use arbiter_runtime::Metrics;
//!
//! let metrics = Metrics::new();
//! metrics.handshakes_total.with_label_values(&["ok"]).inc();
//! let text = metrics.encode_text();
//! assert!(text.contains("arbiter_handshakes_total{result=\"ok\"} 1"));
//! ```

use std::sync::OnceLock;

use arbiter_protocol::MessageType;
use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Buckets of [`Metrics::patch_bytes`]: 64 B, 256 B, … up to 1 MiB (×4 each).
const PATCH_BYTES_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
];

/// Buckets of [`Metrics::tick_duration_seconds`]: 100 µs … 1 s. A 20 Hz room
/// has 50 ms per tick; anything near that is a room about to fall behind.
const TICK_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Buckets of [`Metrics::plugin_hook_duration_seconds`]: 10 µs … 100 ms, dense
/// around the default 5 ms hook budget.
const HOOK_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,
];

/// Every metric the server exports, each registered in this value's own
/// [`Registry`].
///
/// Fields are public so the runtime updates them directly
/// (`metrics.rooms.with_label_values(&["arena"]).inc()`); prometheus handles
/// are cheap to clone if a hot path wants to keep one resolved child.
pub struct Metrics {
    registry: Registry,
    /// `arbiter_connections{transport}`: open client connections now
    /// (`transport` = `ws` or `quic`).
    pub connections: IntGaugeVec,
    /// `arbiter_connections_total{transport}`: connections accepted since start.
    pub connections_total: IntCounterVec,
    /// `arbiter_handshakes_total{result}`: finished handshakes, `result` =
    /// `ok` (new session), `resumed`, or `rejected` (any error reply).
    pub handshakes_total: IntCounterVec,
    /// `arbiter_sessions{state}`: sessions now, `state` = `active` (a transport
    /// attached) or `suspended` (waiting to be resumed within the session TTL).
    pub sessions: IntGaugeVec,
    /// `arbiter_rooms{room_type}`: live rooms now.
    pub rooms: IntGaugeVec,
    /// `arbiter_rooms_created_total{room_type}`: rooms created since start.
    pub rooms_created_total: IntCounterVec,
    /// `arbiter_rooms_closed_total{room_type, reason}`: rooms ended since start,
    /// `reason` = `empty`, `drain`, `plugin` (the plugin closed it) or
    /// `plugin_errors` (past its error budget).
    pub rooms_closed_total: IntCounterVec,
    /// `arbiter_frames_in_total{type}`: client frames received, by message type
    /// (catalog types only; anything else is `unknown`).
    pub frames_in_total: IntCounterVec,
    /// `arbiter_bytes_in_total{type}`: encoded bytes of the frames counted in
    /// [`Metrics::frames_in_total`].
    pub bytes_in_total: IntCounterVec,
    /// `arbiter_frames_out_total{type}`: server frames written, by message type.
    pub frames_out_total: IntCounterVec,
    /// `arbiter_bytes_out_total{type}`: encoded bytes of the frames counted in
    /// [`Metrics::frames_out_total`].
    pub bytes_out_total: IntCounterVec,
    /// `arbiter_patch_bytes{codec}`: encoded size of each `state.patch`, by
    /// codec (`json`, `msgpack`); buckets 64 B … 1 MiB.
    pub patch_bytes: HistogramVec,
    /// `arbiter_tick_duration_seconds{room_type}`: wall time of one room tick
    /// (plugin hook, diff, fan-out), buckets 100 µs … 1 s.
    pub tick_duration_seconds: HistogramVec,
    /// `arbiter_plugin_hook_duration_seconds{room_type, hook}`: wall time of one
    /// plugin hook call (`hook` = `create`, `join`, `leave`, `message`, `tick`,
    /// `dispose`, `restore`), buckets 10 µs … 100 ms.
    pub plugin_hook_duration_seconds: HistogramVec,
    /// `arbiter_plugin_errors_total{room_type, kind}`: failed plugin hook calls,
    /// by kind (`trap`, `budget`, `memory`, `bad_output`, `reported`, …).
    pub plugin_errors_total: IntCounterVec,
    /// `arbiter_outbox_drops_total{reason}`: outbound frames not sent,
    /// `reason` = `unreliable` (an unreliable frame dropped under backpressure)
    /// or `overflow` (a reliable frame that found the outbox full).
    pub outbox_drops_total: IntCounterVec,
    /// `arbiter_errors_sent_total{code}`: `error` frames and failed
    /// `rpc.response`s sent, by wire error code.
    pub errors_sent_total: IntCounterVec,
    /// `arbiter_sessions_suspended_total{reason}`: sessions suspended, `reason`
    /// = `transport_closed`, `heartbeat` (no traffic for 2 × heartbeat) or
    /// `overflow` (reliable outbox full).
    pub sessions_suspended_total: IntCounterVec,
    /// `arbiter_resumes_total`: suspended sessions resumed successfully.
    pub resumes_total: IntCounter,
    /// `arbiter_matchmaking_queue_size{room_type}`: tickets waiting now.
    pub matchmaking_queue_size: IntGaugeVec,
    /// `arbiter_matchmaking_matches_total{room_type}`: matches made since start.
    pub matchmaking_matches_total: IntCounterVec,
    /// `arbiter_matchmaking_wait_seconds{room_type}`: how long matched tickets
    /// waited in the queue.
    pub matchmaking_wait_seconds: HistogramVec,
    /// `arbiter_reservations_expired_total{room_type}`: reserved seats of
    /// matched players that were not taken in time.
    pub reservations_expired_total: IntCounterVec,
    /// Resolved per-type children of the four frame counters (hot paths).
    by_type: ByType,
}

/// The children of a `{type}` counter, resolved on first use per message type
/// and then read without hashing the label or locking the vector: the
/// connection reader and writer count every frame.
struct TypedCounter {
    vec: IntCounterVec,
    cells: Box<[OnceLock<IntCounter>]>,
}

impl TypedCounter {
    fn new(vec: &IntCounterVec) -> TypedCounter {
        TypedCounter {
            vec: vec.clone(),
            cells: MessageType::ALL.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    fn get(&self, ty: MessageType) -> &IntCounter {
        self.cells[ty as usize].get_or_init(|| self.vec.with_label_values(&[ty.as_str()]))
    }
}

/// [`TypedCounter`]s of the frames and bytes in and out.
struct ByType {
    frames_in: TypedCounter,
    bytes_in: TypedCounter,
    frames_out: TypedCounter,
    bytes_out: TypedCounter,
}

impl Metrics {
    /// Creates every metric in a fresh registry, with the label values known in
    /// advance (handshake results, session states, drop and suspension reasons)
    /// already at zero so dashboards see them before the first event.
    pub fn new() -> Metrics {
        let frames_in_total = counter_vec(
            "arbiter_frames_in_total",
            "Client frames received, by message type.",
            &["type"],
        );
        let bytes_in_total = counter_vec(
            "arbiter_bytes_in_total",
            "Encoded bytes of client frames received, by message type.",
            &["type"],
        );
        let frames_out_total = counter_vec(
            "arbiter_frames_out_total",
            "Server frames written, by message type.",
            &["type"],
        );
        let bytes_out_total = counter_vec(
            "arbiter_bytes_out_total",
            "Encoded bytes of server frames written, by message type.",
            &["type"],
        );
        let by_type = ByType {
            frames_in: TypedCounter::new(&frames_in_total),
            bytes_in: TypedCounter::new(&bytes_in_total),
            frames_out: TypedCounter::new(&frames_out_total),
            bytes_out: TypedCounter::new(&bytes_out_total),
        };
        let metrics = Metrics {
            by_type,
            registry: Registry::new(),
            connections: gauge_vec(
                "arbiter_connections",
                "Open client connections.",
                &["transport"],
            ),
            connections_total: counter_vec(
                "arbiter_connections_total",
                "Client connections accepted.",
                &["transport"],
            ),
            handshakes_total: counter_vec(
                "arbiter_handshakes_total",
                "Finished handshakes by result (ok, resumed, rejected).",
                &["result"],
            ),
            sessions: gauge_vec(
                "arbiter_sessions",
                "Sessions by state (active, suspended).",
                &["state"],
            ),
            rooms: gauge_vec("arbiter_rooms", "Live rooms.", &["room_type"]),
            rooms_created_total: counter_vec(
                "arbiter_rooms_created_total",
                "Rooms created.",
                &["room_type"],
            ),
            rooms_closed_total: counter_vec(
                "arbiter_rooms_closed_total",
                "Rooms closed, by reason.",
                &["room_type", "reason"],
            ),
            frames_in_total,
            bytes_in_total,
            frames_out_total,
            bytes_out_total,
            patch_bytes: histogram_vec(
                "arbiter_patch_bytes",
                "Encoded size of state.patch frames, by codec.",
                &["codec"],
                PATCH_BYTES_BUCKETS,
            ),
            tick_duration_seconds: histogram_vec(
                "arbiter_tick_duration_seconds",
                "Wall time of one room tick.",
                &["room_type"],
                TICK_BUCKETS,
            ),
            plugin_hook_duration_seconds: histogram_vec(
                "arbiter_plugin_hook_duration_seconds",
                "Wall time of one plugin hook call.",
                &["room_type", "hook"],
                HOOK_BUCKETS,
            ),
            plugin_errors_total: counter_vec(
                "arbiter_plugin_errors_total",
                "Failed plugin hook calls, by kind.",
                &["room_type", "kind"],
            ),
            outbox_drops_total: counter_vec(
                "arbiter_outbox_drops_total",
                "Outbound frames dropped (unreliable, overflow).",
                &["reason"],
            ),
            errors_sent_total: counter_vec(
                "arbiter_errors_sent_total",
                "Error replies sent, by wire error code.",
                &["code"],
            ),
            sessions_suspended_total: counter_vec(
                "arbiter_sessions_suspended_total",
                "Sessions suspended (transport_closed, heartbeat, overflow).",
                &["reason"],
            ),
            resumes_total: IntCounter::new("arbiter_resumes_total", "Suspended sessions resumed.")
                .expect("static metric definition is valid"),
            matchmaking_queue_size: gauge_vec(
                "arbiter_matchmaking_queue_size",
                "Matchmaking tickets waiting.",
                &["room_type"],
            ),
            matchmaking_matches_total: counter_vec(
                "arbiter_matchmaking_matches_total",
                "Matches made.",
                &["room_type"],
            ),
            matchmaking_wait_seconds: histogram_vec(
                "arbiter_matchmaking_wait_seconds",
                "Time matched tickets waited in the queue.",
                &["room_type"],
                &[0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0],
            ),
            reservations_expired_total: counter_vec(
                "arbiter_reservations_expired_total",
                "Reserved seats not taken before reservation_ttl.",
                &["room_type"],
            ),
        };
        for collector in metrics.collectors() {
            // Names are static and distinct (checked by the unit tests), so this
            // cannot fail at run time.
            metrics
                .registry
                .register(collector)
                .expect("metric names are unique");
        }
        metrics.preset_known_labels();
        metrics
    }

    /// Counts one client frame of type `ty` and `len` encoded bytes in
    /// `frames_in_total` / `bytes_in_total`.
    pub fn count_in(&self, ty: MessageType, len: usize) {
        self.by_type.frames_in.get(ty).inc();
        self.by_type.bytes_in.get(ty).inc_by(len as u64);
    }

    /// Counts one server frame of type `ty` and `len` encoded bytes in
    /// `frames_out_total` / `bytes_out_total`.
    pub fn count_out(&self, ty: MessageType, len: usize) {
        self.by_type.frames_out.get(ty).inc();
        self.by_type.bytes_out.get(ty).inc_by(len as u64);
    }

    /// The registry every metric is registered in, for adding collectors of
    /// your own (e.g. process metrics) to the same `/metrics` output.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The full name of every metric, in declaration order (for documentation
    /// checks and tooling).
    pub fn metric_names(&self) -> Vec<String> {
        self.collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .collect()
    }

    /// Everything in the registry in the Prometheus text exposition format
    /// (version 0.0.4), as served on `/metrics`.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        if let Err(error) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            // Only a malformed metric family can fail; serve what was written.
            tracing::warn!(%error, "encoding metrics failed");
        }
        out
    }

    /// Every metric as a collector, boxed clones sharing the same values.
    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.connections.clone()),
            Box::new(self.connections_total.clone()),
            Box::new(self.handshakes_total.clone()),
            Box::new(self.sessions.clone()),
            Box::new(self.rooms.clone()),
            Box::new(self.rooms_created_total.clone()),
            Box::new(self.rooms_closed_total.clone()),
            Box::new(self.frames_in_total.clone()),
            Box::new(self.bytes_in_total.clone()),
            Box::new(self.frames_out_total.clone()),
            Box::new(self.bytes_out_total.clone()),
            Box::new(self.patch_bytes.clone()),
            Box::new(self.tick_duration_seconds.clone()),
            Box::new(self.plugin_hook_duration_seconds.clone()),
            Box::new(self.plugin_errors_total.clone()),
            Box::new(self.outbox_drops_total.clone()),
            Box::new(self.errors_sent_total.clone()),
            Box::new(self.sessions_suspended_total.clone()),
            Box::new(self.resumes_total.clone()),
            Box::new(self.matchmaking_queue_size.clone()),
            Box::new(self.matchmaking_matches_total.clone()),
            Box::new(self.matchmaking_wait_seconds.clone()),
            Box::new(self.reservations_expired_total.clone()),
        ]
    }

    /// Creates the children whose label values are a fixed set, so they are
    /// exported (at zero) from the start.
    fn preset_known_labels(&self) {
        for result in ["ok", "resumed", "rejected"] {
            self.handshakes_total.with_label_values(&[result]);
        }
        for state in ["active", "suspended"] {
            self.sessions.with_label_values(&[state]);
        }
        for reason in ["unreliable", "overflow"] {
            self.outbox_drops_total.with_label_values(&[reason]);
        }
        for reason in ["transport_closed", "heartbeat", "overflow"] {
            self.sessions_suspended_total.with_label_values(&[reason]);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("metrics", &self.metric_names().len())
            .finish_non_exhaustive()
    }
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition is valid")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition is valid")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("static metric definition is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Touches one child of every metric so each family has a sample.
    fn touch_all(m: &Metrics) {
        m.connections.with_label_values(&["ws"]).inc();
        m.connections_total.with_label_values(&["ws"]).inc();
        m.handshakes_total.with_label_values(&["ok"]).inc();
        m.sessions.with_label_values(&["active"]).inc();
        m.rooms.with_label_values(&["arena"]).inc();
        m.rooms_created_total.with_label_values(&["arena"]).inc();
        m.rooms_closed_total
            .with_label_values(&["arena", "empty"])
            .inc();
        m.frames_in_total.with_label_values(&["ping"]).inc();
        m.bytes_in_total.with_label_values(&["ping"]).inc_by(20);
        m.frames_out_total.with_label_values(&["pong"]).inc();
        m.bytes_out_total.with_label_values(&["pong"]).inc_by(30);
        m.patch_bytes.with_label_values(&["json"]).observe(100.0);
        m.tick_duration_seconds
            .with_label_values(&["arena"])
            .observe(0.002);
        m.plugin_hook_duration_seconds
            .with_label_values(&["arena", "on_tick"])
            .observe(0.0001);
        m.plugin_errors_total
            .with_label_values(&["arena", "trap"])
            .inc();
        m.outbox_drops_total.with_label_values(&["overflow"]).inc();
        m.errors_sent_total
            .with_label_values(&["rate.limited"])
            .inc();
        m.sessions_suspended_total
            .with_label_values(&["heartbeat"])
            .inc();
        m.resumes_total.inc();
        m.matchmaking_queue_size
            .with_label_values(&["arena"])
            .set(3);
        m.matchmaking_matches_total
            .with_label_values(&["arena"])
            .inc();
        m.matchmaking_wait_seconds
            .with_label_values(&["arena"])
            .observe(1.5);
        m.reservations_expired_total
            .with_label_values(&["arena"])
            .inc();
    }

    #[test]
    fn every_metric_is_registered_and_encoded() {
        let m = Metrics::new();
        touch_all(&m);
        let names = m.metric_names();
        assert_eq!(names.len(), 23);
        let text = m.encode_text();
        for name in &names {
            assert!(name.starts_with("arbiter_"), "{name}");
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing from:\n{text}"
            );
        }
        let gathered: Vec<String> = m
            .registry()
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert_eq!(gathered.len(), names.len());
    }

    #[test]
    fn names_are_unique() {
        let mut names = Metrics::new().metric_names();
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn values_and_buckets_are_encoded() {
        let m = Metrics::new();
        touch_all(&m);
        let text = m.encode_text();
        assert!(
            text.contains("arbiter_rooms_closed_total{reason=\"empty\",room_type=\"arena\"} 1")
        );
        assert!(text.contains("arbiter_bytes_out_total{type=\"pong\"} 30"));
        assert!(text.contains("arbiter_resumes_total 1"));
        assert!(text.contains("arbiter_patch_bytes_bucket{codec=\"json\",le=\"1048576\"} 1"));
        assert!(text.contains("arbiter_patch_bytes_bucket{codec=\"json\",le=\"64\"} 0"));
        assert!(text.contains("arbiter_matchmaking_queue_size{room_type=\"arena\"} 3"));
    }

    #[test]
    fn known_labels_start_at_zero() {
        let text = Metrics::new().encode_text();
        for line in [
            "arbiter_handshakes_total{result=\"rejected\"} 0",
            "arbiter_sessions{state=\"suspended\"} 0",
            "arbiter_outbox_drops_total{reason=\"unreliable\"} 0",
            "arbiter_sessions_suspended_total{reason=\"transport_closed\"} 0",
            "arbiter_resumes_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn instances_are_independent() {
        let a = Metrics::new();
        let b = Metrics::default();
        a.resumes_total.inc();
        assert_eq!(a.resumes_total.get(), 1);
        assert_eq!(b.resumes_total.get(), 0);
    }
}
