//! `loadgen`: runs one of WORKLOAD.md's socket workloads against an Arbiter
//! server (or the floor) and prints a table and one JSON line on stdout.
//!
//! ```sh
//! # Against a server it starts itself, pinned to core 0, the load generator on core 1:
//! taskset -c 1 target/release/loadgen --spawn-server target/release/arbiter --server-cpus 0 \
//!     --workload arena-move --codec msgpack --ccu 500,1000,2000
//! # Against a running server (pass its pid for CPU and memory figures):
//! taskset -c 0 target/release/arbiter &
//! taskset -c 1 target/release/loadgen --url ws://127.0.0.1:4000/ --server-pid $! --ccu 1000
//! ```
//!
//! See docs/benchmarks.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arbiter_loadgen::{
    ArenaOptions, CounterOptions, LoadgenError, Report, RunConfig, SpawnedServer, StormOptions,
    Target, discover_quic, run_arena, run_counter, run_storm,
};
use arbiter_protocol::Codec;
use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// 8 clients per arena room moving at 20 Hz; move-to-echo latency.
    ArenaMove,
    /// 50 clients per counter room sending `inc` in a closed loop.
    CounterBurst,
    /// Connect, handshake, join, leave, disconnect, in a loop.
    JoinStorm,
}

/// The transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// WebSocket.
    Ws,
    /// QUIC-only sessions, moves as datagrams (arena-move only); the QUIC
    /// endpoint is learnt from a WebSocket handshake to --url.
    Quic,
}

/// The load generator's flags.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Arbiter load generator (WORKLOAD.md)")]
struct Args {
    /// The workload.
    #[arg(long, value_enum, default_value = "arena-move")]
    workload: Workload,
    /// The server's WebSocket URL (ignored with --spawn-server).
    #[arg(long, default_value = "ws://127.0.0.1:4000/")]
    url: String,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
    /// `msgpack` or `json`.
    #[arg(long, default_value = "msgpack")]
    codec: String,
    /// `ws`, or `quic` (arena-move only).
    #[arg(long, value_enum, default_value = "ws")]
    transport: Transport,
    /// Start this server binary (`arbiter` or `floor`) on free loopback ports
    /// and measure it.
    #[arg(long)]
    spawn_server: Option<PathBuf>,
    /// An extra argument for the spawned server (repeatable), e.g.
    /// `--server-arg=--rate-per-sec=100000`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Pin the spawned server to these CPUs (`taskset -c` list), e.g. `0`.
    #[arg(long)]
    server_cpus: Option<String>,
    /// The pid of a running server, for its CPU and memory figures.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The handshake's project_id.
    #[arg(long, default_value = "bench")]
    project: String,
    /// arena-move: CCU levels, comma-separated (the first is the start level
    /// with --find-capacity).
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    ccu: Vec<u32>,
    /// arena-move: raise CCU by --step until p99 > --p99-limit-ms or a client
    /// fails; report the last level that held.
    #[arg(long)]
    find_capacity: bool,
    /// --find-capacity: CCU added per level.
    #[arg(long, default_value_t = 250)]
    step: u32,
    /// --find-capacity: the highest level tried.
    #[arg(long, default_value_t = 20_000)]
    max_ccu: u32,
    /// The latency bound of a level that holds.
    #[arg(long, default_value_t = 100.0)]
    p99_limit_ms: f64,
    /// arena-move: moves per second per client.
    #[arg(long, default_value_t = 20.0)]
    move_hz: f64,
    /// counter-burst: clients; join-storm: concurrent workers.
    #[arg(long, default_value_t = 500)]
    clients: u32,
    /// Seconds over which new clients are started.
    #[arg(long, default_value_t = 5.0)]
    ramp_secs: f64,
    /// Seconds between the ramp and the measurement window.
    #[arg(long, default_value_t = 3.0)]
    warmup_secs: f64,
    /// Seconds of the measurement window (per level).
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    match run(&args) {
        Ok(report) => {
            print!("{}", report.table());
            println!("{}", report.json_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn secs(name: &str, v: f64) -> Result<Duration, LoadgenError> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| LoadgenError::Options(format!("--{name} must be a number of seconds ≥ 0")))
}

fn run(args: &Args) -> Result<Report, LoadgenError> {
    let codec: Codec = args
        .codec
        .parse()
        .map_err(|e: arbiter_protocol::UnknownCodec| LoadgenError::Options(e.to_string()))?;
    let (ramp, warmup, duration) = (
        secs("ramp-secs", args.ramp_secs)?,
        secs("warmup-secs", args.warmup_secs)?,
        secs("duration-secs", args.duration_secs)?,
    );
    let spawned = match &args.spawn_server {
        Some(path) => Some(SpawnedServer::start(
            path,
            &args.server_args,
            args.server_cpus.as_deref(),
        )?),
        None => None,
    };
    let target = match &spawned {
        Some(server) => Target::local(server.ws_addr),
        None => Target::resolve(&args.url, args.allow_remote)?,
    };
    let mut cfg = RunConfig::new(target);
    cfg.codec = codec;
    cfg.project = args.project.clone();
    cfg.server_pid = spawned.as_ref().map(|s| s.pid).or(args.server_pid);
    if args.transport == Transport::Quic {
        cfg.quic = Some(discover_quic(&cfg.target, &cfg.project)?);
    }
    let report = match args.workload {
        Workload::ArenaMove => Report::Arena(run_arena(
            &cfg,
            &arena_options(args, ramp, warmup, duration)?,
        )?),
        Workload::CounterBurst => Report::Counter(run_counter(
            &cfg,
            &CounterOptions {
                clients: args.clients,
                ramp,
                warmup,
                duration,
                ..CounterOptions::default()
            },
        )?),
        Workload::JoinStorm => Report::Storm(run_storm(
            &cfg,
            &StormOptions {
                workers: args.clients,
                ramp,
                warmup,
                duration,
            },
        )?),
    };
    drop(spawned);
    Ok(report)
}

fn arena_options(
    args: &Args,
    ramp: Duration,
    warmup: Duration,
    duration: Duration,
) -> Result<ArenaOptions, LoadgenError> {
    let mut levels = args.ccu.clone();
    if args.find_capacity {
        let start = levels.first().copied().unwrap_or(500).max(1);
        if args.step == 0 {
            return Err(LoadgenError::Options("--step must be above 0".into()));
        }
        levels = (start..=args.max_ccu.max(start))
            .step_by(args.step as usize)
            .collect();
    }
    if levels.windows(2).any(|w| w[1] <= w[0]) {
        return Err(LoadgenError::Options("--ccu levels must increase".into()));
    }
    Ok(ArenaOptions {
        levels,
        ramp,
        warmup,
        duration,
        move_hz: args.move_hz,
        p99_limit_ms: args.p99_limit_ms,
        stop_at_failure: args.find_capacity,
    })
}
