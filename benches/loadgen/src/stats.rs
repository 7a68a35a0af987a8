//! What the clients of one run count, and latency percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::LoadgenError;

/// Counters shared by the clients of a run (one thread: they live in a
/// `RefCell`). The driver takes them at the start and the end of a
/// measurement window.
#[derive(Debug, Default)]
pub struct Tally {
    /// Server frames received.
    pub frames_in: u64,
    /// Bytes of those frames (WebSocket payloads, without framing).
    pub bytes_in: u64,
    /// Work started: moves or `inc`s sent, join-storm cycles begun.
    pub sent: u64,
    /// Work finished: moves echoed, `inc`s reflected, joins completed.
    pub done: u64,
    /// Handshakes completed (join-storm).
    pub handshakes: u64,
    /// Client errors (failed connects, refused requests, `error` frames).
    pub errors: u64,
    /// Connections lost during the run.
    pub disconnects: u64,
    /// Errors by kind (wire code, `ws`, `timeout`…).
    pub error_kinds: BTreeMap<String, u64>,
    /// The first error message seen, to explain a failed run.
    pub first_error: Option<String>,
    /// The workload's latency samples, µs.
    pub latencies_us: Vec<u32>,
    /// A second series (join-storm: handshake latency), µs.
    pub aux_latencies_us: Vec<u32>,
}

impl Tally {
    /// Counts one error of the kind of `err`.
    pub fn error(&mut self, err: &LoadgenError) {
        let kind = match err {
            LoadgenError::Refused { code, .. } => code.clone(),
            LoadgenError::Ws(_) | LoadgenError::Io(_) | LoadgenError::Quic(_) => {
                "transport".to_owned()
            }
            LoadgenError::Timeout(_) => "timeout".to_owned(),
            LoadgenError::Protocol(_) => "protocol".to_owned(),
            _ => "other".to_owned(),
        };
        self.errors += 1;
        *self.error_kinds.entry(kind).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(err.to_string());
        }
    }

    /// Counts one lost connection.
    pub fn disconnect(&mut self, why: &str) {
        self.disconnects += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("disconnected: {why}"));
        }
    }

    /// Records a latency sample.
    pub fn latency(&mut self, d: Duration) {
        self.latencies_us.push(micros(d));
    }

    /// Records a sample of the second series.
    pub fn aux_latency(&mut self, d: Duration) {
        self.aux_latencies_us.push(micros(d));
    }

    /// Adds the errors and disconnects of `earlier` (a ramp's) to these.
    pub fn absorb_failures(&mut self, earlier: Tally) {
        self.errors += earlier.errors;
        self.disconnects += earlier.disconnects;
        for (kind, n) in earlier.error_kinds {
            *self.error_kinds.entry(kind).or_default() += n;
        }
        if earlier.first_error.is_some() {
            self.first_error = earlier.first_error;
        }
    }

    /// Returns the counts so far and starts from zero.
    pub fn take(&mut self) -> Tally {
        std::mem::take(self)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// p50 / p99 / max of a latency series, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples_us` (sorted in place); `None` when empty.
    pub fn of(samples_us: &mut [u32]) -> Option<Percentiles> {
        if samples_us.is_empty() {
            return None;
        }
        samples_us.sort_unstable();
        let at = |q: f64| {
            let rank = (q * samples_us.len() as f64).ceil() as usize;
            f64::from(samples_us[rank.clamp(1, samples_us.len()) - 1]) / 1000.0
        };
        Some(Percentiles {
            count: samples_us.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=100).rev().map(|ms| ms * 1000).collect();
        let p = Percentiles::of(&mut v).unwrap();
        assert_eq!(
            (p.count, p.p50_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(&mut []), None);
        let one = Percentiles::of(&mut [1500]).unwrap();
        assert_eq!((one.p50_ms, one.max_ms), (1.5, 1.5));
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut t = Tally::default();
        t.error(&LoadgenError::Refused {
            code: "room.full".into(),
            reason: "full".into(),
        });
        t.error(&LoadgenError::Timeout("joining"));
        t.disconnect("eof");
        assert_eq!(t.errors, 2);
        assert_eq!(t.disconnects, 1);
        assert_eq!(t.error_kinds["room.full"], 1);
        assert!(t.first_error.unwrap().contains("room.full"));
        let mut t = Tally::default();
        t.latency(Duration::from_millis(3));
        assert_eq!(t.take().latencies_us, [3000]);
        assert!(t.latencies_us.is_empty());
    }
}
