//! Smoke test of the load generator (CI runs it so it never rots): each
//! workload for a second or two against an in-process Arbiter server, and
//! arena-move against the floor (WebSocket and QUIC). No timing assertions: only that the
//! workloads do what they say (moves echoed, incs reflected, joins done) and
//! that no client failed.

use std::time::Duration;

use arbiter_loadgen::{
    ArenaOptions, ArenaReport, CounterOptions, FloorOptions, FloorQuic, Report, RunConfig,
    StormOptions, Target, discover_quic, run_arena, run_counter, run_storm, serve_floor,
};
use arbiter_protocol::Codec;
use arbiter_testkit::TestServer;

fn config(server: &TestServer, codec: Codec) -> RunConfig {
    let mut cfg = RunConfig::new(Target::local(server.addr));
    cfg.codec = codec;
    cfg.project = format!("smoke-{codec}");
    // The server runs in this process: its figures are this process's.
    cfg.server_pid = Some(std::process::id());
    cfg
}

fn short_arena(clients: u32) -> ArenaOptions {
    ArenaOptions {
        levels: vec![clients],
        ramp: Duration::from_millis(200),
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(2),
        ..ArenaOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_move_echoes_moves_in_both_codecs() {
    let server = TestServer::start().await;
    for codec in Codec::SUPPORTED {
        let cfg = config(&server, codec);
        let report = tokio::task::spawn_blocking(move || run_arena(&cfg, &short_arena(16)))
            .await
            .unwrap()
            .unwrap();
        let level = &report.levels[0];
        assert_eq!(level.connected, 16, "{report:?}");
        assert_eq!((level.errors, level.disconnects), (0, 0), "{report:?}");
        assert!(level.moves_sent > 0 && level.moves_echoed > 0, "{report:?}");
        assert!(level.latency.is_some() && level.frames_out_per_sec > 0.0);
        assert!(level.process.server_cpu_pct.is_some());
        let json = Report::Arena(report).json_line();
        assert!(json.starts_with("{\"workload\":\"arena-move\"") && !json.contains('\n'));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_move_over_quic_echoes_datagram_moves() {
    let server = TestServer::start_quic().await;
    let mut cfg = config(&server, Codec::MsgPack);
    let report = arena_over_quic(&mut cfg).await;
    assert_eq!(report.transport, "quic");
    let level = &report.levels[0];
    assert_eq!(level.connected, 16, "{report:?}");
    assert_eq!((level.errors, level.disconnects), (0, 0), "{report:?}");
    // Datagrams may be lost, but not all of them on loopback.
    assert!(level.moves_sent > 0 && level.moves_echoed > 0, "{report:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_burst_and_join_storm_complete_work() {
    // A closed loop on loopback outruns the default 100 frames/s per session.
    let server = TestServer::start_with(|c| {
        c.session.rate_per_sec = 1_000_000;
        c.session.rate_burst = 1_000_000;
    })
    .await;
    let cfg = config(&server, Codec::MsgPack);
    let opts = CounterOptions {
        clients: 20,
        clients_per_room: 10,
        ramp: Duration::from_millis(100),
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
    };
    let counter = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || run_counter(&cfg, &opts))
    }
    .await
    .unwrap()
    .unwrap();
    assert_eq!(counter.connected, 20, "{counter:?}");
    assert!(
        counter.msgs_per_sec > 0.0 && counter.round_trip.is_some(),
        "{counter:?}"
    );
    assert_eq!((counter.errors, counter.disconnects), (0, 0), "{counter:?}");

    let opts = StormOptions {
        workers: 8,
        ramp: Duration::from_millis(100),
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
    };
    let storm = tokio::task::spawn_blocking(move || run_storm(&cfg, &opts))
        .await
        .unwrap()
        .unwrap();
    assert!(
        storm.joins_per_sec > 0.0 && storm.handshakes_per_sec > 0.0,
        "{storm:?}"
    );
    assert!(storm.join_latency.is_some(), "{storm:?}");
    assert_eq!(storm.errors, 0, "{storm:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_serves_arena_clients() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let floor = tokio::spawn(serve_floor(
        listener,
        None,
        FloorOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    for codec in Codec::SUPPORTED {
        let mut cfg = RunConfig::new(Target::local(addr));
        cfg.codec = codec;
        let report = tokio::task::spawn_blocking(move || run_arena(&cfg, &short_arena(16)))
            .await
            .unwrap()
            .unwrap();
        let level = &report.levels[0];
        assert_eq!(level.connected, 16, "{report:?}");
        assert_eq!((level.errors, level.disconnects), (0, 0), "{report:?}");
        // One patch per client per tick, and no echo: the floor keeps no state.
        assert!(level.frames_out_per_sec > 0.0 && level.bytes_per_client_per_sec > 0.0);
        assert_eq!(level.moves_echoed, 0);
    }
    let _ = stop.send(());
    floor.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_serves_arena_clients_over_quic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let quic = FloorQuic::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let floor = tokio::spawn(serve_floor(
        listener,
        Some(quic),
        FloorOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    for codec in Codec::SUPPORTED {
        let mut cfg = RunConfig::new(Target::local(addr));
        cfg.codec = codec;
        let report = arena_over_quic(&mut cfg).await;
        assert_eq!(report.transport, "quic");
        let level = &report.levels[0];
        assert_eq!(level.connected, 16, "{report:?}");
        assert_eq!((level.errors, level.disconnects), (0, 0), "{report:?}");
        // Moves went out as datagrams and patches came back on the stream;
        // no echo: the floor keeps no state.
        assert!(level.moves_sent > 0, "{report:?}");
        assert!(level.frames_out_per_sec > 0.0 && level.bytes_per_client_per_sec > 0.0);
        assert_eq!(level.moves_echoed, 0);
    }
    let _ = stop.send(());
    floor.await.unwrap().unwrap();
}

/// Finds the QUIC endpoint as `loadgen --transport quic` does (`handshake.ok`
/// over WebSocket names its port and certificate), then runs a short
/// arena-move over it with 16 clients.
async fn arena_over_quic(cfg: &mut RunConfig) -> ArenaReport {
    let target = cfg.target.clone();
    let quic = tokio::task::spawn_blocking(move || discover_quic(&target, "smoke"))
        .await
        .unwrap()
        .unwrap();
    cfg.quic = Some(quic);
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || run_arena(&cfg, &short_arena(16)))
        .await
        .unwrap()
        .unwrap()
}
