//! Rendering reports: a fixed-width table for people and one JSON line for
//! scripts.

use std::fmt::Write;

use serde::Serialize;

use crate::arena::ArenaReport;
use crate::counter::CounterReport;
use crate::run::ProcessFigures;
use crate::stats::Percentiles;
use crate::storm::StormReport;

/// The report of any workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// arena-move.
    Arena(ArenaReport),
    /// counter-burst.
    Counter(CounterReport),
    /// join-storm.
    Storm(StormReport),
}

impl Report {
    /// The report as one line of JSON.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as a table (several lines, ending with a newline).
    pub fn table(&self) -> String {
        match self {
            Report::Arena(r) => arena_table(r),
            Report::Counter(r) => counter_table(r),
            Report::Storm(r) => storm_table(r),
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

fn mib(v: Option<u64>) -> String {
    opt(v.map(|b| b as f64 / (1024.0 * 1024.0)), 1)
}

fn lat(p: Option<Percentiles>) -> [String; 3] {
    [
        opt(p.map(|p| p.p50_ms), 1),
        opt(p.map(|p| p.p99_ms), 1),
        opt(p.map(|p| p.max_ms), 1),
    ]
}

fn cpu(p: &ProcessFigures) -> [String; 3] {
    [
        opt(p.server_cpu_pct, 1),
        mib(p.server_rss_bytes),
        opt(p.loadgen_cpu_pct, 1),
    ]
}

fn arena_table(r: &ArenaReport) -> String {
    let mut out = format!(
        "arena-move over {} + {} (server idle RSS {} MiB)\n",
        r.transport,
        r.codec,
        mib(r.server_rss_idle_bytes)
    );
    let _ = writeln!(
        out,
        "{:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>15} {:>5} {:>5} {:>8} {:>4}",
        "ccu",
        "conn",
        "srv_cpu%",
        "rss_MiB",
        "RSS/cli",
        "PSS/cli",
        "out_MB/s",
        "frames/s",
        "B/cli/s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "echoed/sent",
        "err",
        "disc",
        "lg_cpu%",
        "held"
    );
    for l in &r.levels {
        let [c, rss, lg] = cpu(&l.process);
        let [p50, p99, max] = lat(l.latency);
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9.2} {:>8.0} {:>8.0} {:>7} {:>7} {:>7} {:>15} {:>5} {:>5} {:>8} {:>4}",
            l.ccu,
            l.connected,
            c,
            rss,
            opt(l.server_rss_per_client_bytes.map(|b| b / 1024.0), 1),
            opt(l.server_pss_per_client_bytes.map(|b| b / 1024.0), 1),
            l.bytes_out_per_sec / 1e6,
            l.frames_out_per_sec,
            l.bytes_per_client_per_sec,
            p50,
            p99,
            max,
            format!("{}/{}", l.moves_echoed, l.moves_sent),
            l.errors,
            l.disconnects,
            lg,
            if l.held { "yes" } else { "no" },
        );
        if let Some(e) = &l.first_error {
            let _ = writeln!(out, "       first error: {e}");
        }
    }
    if let Some(c) = r.capacity {
        let _ = writeln!(out, "capacity: {c} CCU");
    }
    out
}

fn counter_table(r: &CounterReport) -> String {
    let [c, rss, lg] = cpu(&r.process);
    let [p50, p99, max] = lat(r.round_trip);
    let mut out = format!(
        "counter-burst over ws + {}: {} clients in {} rooms\n",
        r.codec, r.clients, r.rooms
    );
    let _ = writeln!(
        out,
        "{:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5} {:>5} {:>8}",
        "conn",
        "msgs/s",
        "patches/s",
        "srv_cpu%",
        "rss_MiB",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "err",
        "disc",
        "lg_cpu%"
    );
    let _ = writeln!(
        out,
        "{:>6} {:>10.0} {:>10.0} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5} {:>5} {:>8}",
        r.connected,
        r.msgs_per_sec,
        r.frames_out_per_sec,
        c,
        rss,
        p50,
        p99,
        max,
        r.errors,
        r.disconnects,
        lg
    );
    if let Some(e) = &r.first_error {
        let _ = writeln!(out, "first error: {e}");
    }
    out
}

fn storm_table(r: &StormReport) -> String {
    let [c, rss, lg] = cpu(&r.process);
    let [p50, p99, max] = lat(r.join_latency);
    let mut out = format!("join-storm over ws + {}: {} workers\n", r.codec, r.workers);
    let _ = writeln!(
        out,
        "{:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>10} {:>5} {:>8}",
        "hs/s",
        "joins/s",
        "hs+join/s",
        "srv_cpu%",
        "rss_MiB",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "hs_p99_ms",
        "err",
        "lg_cpu%"
    );
    let _ = writeln!(
        out,
        "{:>9.0} {:>9.0} {:>9.0} {:>8} {:>8} {:>7} {:>7} {:>7} {:>10} {:>5} {:>8}",
        r.handshakes_per_sec,
        r.joins_per_sec,
        r.handshakes_plus_joins_per_sec,
        c,
        rss,
        p50,
        p99,
        max,
        opt(r.handshake_latency.map(|p| p.p99_ms), 1),
        r.errors,
        lg
    );
    if let Some(e) = &r.first_error {
        let _ = writeln!(out, "first error: {e}");
    }
    out
}
