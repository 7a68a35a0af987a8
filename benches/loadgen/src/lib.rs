//! Arbiter's load generator and the floor server: the instruments behind
//! `docs/benchmarks.md` (WORKLOAD.md's socket workloads).
//!
//! # When to use what
//!
//! - The `loadgen` binary (a thin CLI over this library) runs one workload
//!   against a running server (`--url`, loopback only unless
//!   `--allow-remote`) or one it starts itself (`--spawn-server PATH`), and
//!   prints a table and one JSON line.
//! - The `floor` binary ([`serve_floor`]) is the reference server every socket
//!   figure is set beside: same sockets, framing and codec, nothing else;
//!   WebSocket, and QUIC with `--quic-addr` ([`FloorQuic`]).
//! - Tests call [`run_arena`], [`run_counter`] and [`run_storm`] directly
//!   against an in-process server.
//!
//! # How it stays cheap
//!
//! Every client of a run lives on one current-thread tokio runtime (a
//! [`tokio::task::LocalSet`], counters in a `RefCell`, no locks, no thread per
//! client). Clients are lean ([`wire`]): a WebSocket, frames encoded with
//! `arbiter-protocol`, and a partial decoder that reads only the type, rid,
//! seq and patch ops' paths and numbers. They keep no replica, send no acks
//! and no pings (every workload sends far more often than the heartbeat).
//! A level at which the load generator's own CPU (reported) nears 100 %
//! measures the load generator, not the server.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use arbiter_loadgen::{ArenaOptions, Report, RunConfig, Target, run_arena};
//!
//! # fn demo() -> Result<(), arbiter_loadgen::LoadgenError> {
//! let mut cfg = RunConfig::new(Target::resolve("ws://127.0.0.1:4000/", false)?);
//! cfg.server_pid = Some(4242); // for server CPU and memory
//! let opts = ArenaOptions {
//!     levels: vec![500, 1000],
//!     duration: Duration::from_secs(10),
//!     ..ArenaOptions::default()
//! };
//! let report = Report::Arena(run_arena(&cfg, &opts)?);
//! print!("{}", report.table());
//! println!("{}", report.json_line());
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions where WORKLOAD.md is silent
//!
//! - Bytes out of the server are the WebSocket payload bytes the clients
//!   receive (what `arbiter_bytes_out_total` counts), without WebSocket, TCP
//!   or IP headers.
//! - A move whose `x` never appears (two moves in one tick: the patch shows
//!   only the last) has no latency sample; `moves_echoed` / `moves_sent` says
//!   how many did.
//! - Levels are reached incrementally in one process: the clients of 500 CCU
//!   stay connected while 500 more ramp up for 1,000.
//! - counter-burst's round trip ends at the first patch after the `inc`
//!   (see [`counter`]); join-storm's join latency ends at the snapshot.

pub mod arena;
pub mod counter;
mod error;
pub mod floor;
pub mod floor_quic;
pub mod procstat;
pub mod quic;
mod report;
mod run;
pub mod spawn;
pub mod stats;
pub mod storm;
mod target;
pub mod wire;

pub use arena::{ArenaLevel, ArenaOptions, ArenaReport, run_arena};
pub use counter::{CounterOptions, CounterReport, run_counter};
pub use error::{LoadgenError, Result};
pub use floor::{FloorOptions, serve_floor};
pub use floor_quic::FloorQuic;
pub use quic::discover_quic;
pub use report::Report;
pub use run::{ProcessFigures, RunConfig};
pub use spawn::SpawnedServer;
pub use storm::{StormOptions, StormReport, run_storm};
pub use target::Target;
