//! Test harness for Arbiter's end-to-end tests: a real server (runtime and
//! WebSocket gateway) in the test process, listening on a loopback port, with
//! the reference plugins, and clients connected to it.
//!
//! Every test gets its own server on its own port, so tests run in parallel.
//! Configuration that tests tune (TTLs, outbox sizes, rate limits) is set
//! with [`TestServer::start_with`]. [`TestServer::start_quic_with`] also
//! serves QUIC (UDP, loopback, a self-signed certificate announced in
//! `handshake.ok`), for QUIC-only clients ([`TestServer::quic_client`]) and
//! WebSocket clients that attach.
//!
//! ```no_run
//! # async fn demo() {
//! let server = arbiter_testkit::TestServer::start().await;
//! let client = server.client("demo").await;
//! let joined = client.join_or_create("counter", None, None).await.unwrap();
//! # }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arbiter_client::{Client, ClientConfig, QuicTrust};
use arbiter_gateway::{QuicIdentity, QuicListener};
use arbiter_protocol::QuicInfo;
use arbiter_runtime::{Metrics, Runtime, RuntimeConfig};
use tokio::sync::oneshot;

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Where `cargo xtask plugins` puts the reference plugins.
pub fn plugins_dir() -> PathBuf {
    target_dir().join("plugins")
}

/// The default configuration for tests: the reference plugins, the shared
/// compiled-module cache, everything else as in production.
pub fn test_config() -> RuntimeConfig {
    let mut config = RuntimeConfig {
        plugins_dir: plugins_dir(),
        ..RuntimeConfig::default()
    };
    config.host.cache_dir = Some(target_dir().join("plugin-cache"));
    config
}

/// A running server.
pub struct TestServer {
    /// Where it listens (WebSocket).
    pub addr: SocketAddr,
    /// Its runtime, for assertions on rooms and metrics.
    pub runtime: Arc<Runtime>,
    /// Where it listens for QUIC (UDP), and the certificate's SHA-256, when
    /// started with [`TestServer::start_quic_with`].
    pub quic: Option<(SocketAddr, QuicInfo)>,
    stop: Vec<oneshot::Sender<()>>,
}

impl TestServer {
    /// A server with [`test_config`].
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server with [`test_config`] changed by `tune`.
    ///
    /// # Panics
    /// When the plugins are not built (`cargo xtask plugins`) or no loopback
    /// port is free: the test cannot run.
    pub async fn start_with(tune: impl FnOnce(&mut RuntimeConfig)) -> TestServer {
        TestServer::start_inner(tune, None).await
    }

    /// A server with [`test_config`] that also serves QUIC.
    pub async fn start_quic() -> TestServer {
        TestServer::start_quic_with(|_| {}).await
    }

    /// Like [`TestServer::start_with`], plus a QUIC listener on a loopback
    /// UDP port with a generated certificate; `RuntimeConfig::quic` is set
    /// after `tune`, so `handshake.ok` announces it.
    ///
    /// # Panics
    /// As [`TestServer::start_with`], or when the certificate or UDP socket
    /// cannot be had.
    pub async fn start_quic_with(tune: impl FnOnce(&mut RuntimeConfig)) -> TestServer {
        let identity = QuicIdentity::self_signed().expect("a self-signed certificate");
        TestServer::start_inner(tune, Some(identity)).await
    }

    /// Like [`TestServer::start_quic_with`], with this certificate (e.g. one
    /// issued by a test CA).
    pub async fn start_quic_with_identity(
        identity: QuicIdentity,
        tune: impl FnOnce(&mut RuntimeConfig),
    ) -> TestServer {
        TestServer::start_inner(tune, Some(identity)).await
    }

    async fn start_inner(
        tune: impl FnOnce(&mut RuntimeConfig),
        quic: Option<QuicIdentity>,
    ) -> TestServer {
        let mut config = test_config();
        tune(&mut config);
        let quic = quic.map(|identity| {
            let listener = QuicListener::bind(([127, 0, 0, 1], 0).into(), &identity)
                .expect("a loopback UDP port");
            config.quic = Some(listener.info());
            listener
        });
        let runtime = Runtime::start(config, Arc::new(Metrics::new()))
            .expect("the runtime starts (did `cargo xtask plugins` run?)");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let mut stop = Vec::new();
        let (stop_ws, stopped) = oneshot::channel::<()>();
        stop.push(stop_ws);
        tokio::spawn(arbiter_gateway::serve_ws(
            listener,
            runtime.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let quic = quic.map(|listener| {
            let found = (listener.local_addr(), listener.info());
            let (stop_quic, stopped) = oneshot::channel::<()>();
            stop.push(stop_quic);
            tokio::spawn(arbiter_gateway::serve_quic(
                listener,
                runtime.clone(),
                async {
                    let _ = stopped.await;
                },
            ));
            found
        });
        TestServer {
            addr,
            runtime,
            quic,
            stop,
        }
    }

    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// A client configuration for `project`, with a 10 s request timeout.
    pub fn client_config(&self, project: &str) -> ClientConfig {
        ClientConfig::new(self.url(), project).with_request_timeout(Duration::from_secs(10))
    }

    /// A configuration for a QUIC-only client of `project`, pinning the
    /// server's certificate.
    ///
    /// # Panics
    /// When the server was not started with QUIC.
    pub fn quic_client_config(&self, project: &str) -> ClientConfig {
        let (addr, info) = self
            .quic
            .clone()
            .expect("the server serves QUIC (TestServer::start_quic_with)");
        self.client_config(project)
            .with_quic(addr.to_string(), QuicTrust::Sha256(info.cert_sha256))
    }

    /// A connected QUIC-only client of `project`.
    ///
    /// # Panics
    /// When the server was not started with QUIC, or the connection fails.
    pub async fn quic_client(&self, project: &str) -> Client {
        Client::connect(self.quic_client_config(project))
            .await
            .expect("QUIC client connects")
    }

    /// A connected client of `project`.
    ///
    /// # Panics
    /// When the connection or handshake fails.
    pub async fn client(&self, project: &str) -> Client {
        Client::connect(self.client_config(project))
            .await
            .expect("client connects")
    }

    /// The server's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.runtime.metrics().encode_text()
    }

    /// Stops accepting and drains the runtime.
    pub async fn shutdown(mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
        self.runtime.drain().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}
