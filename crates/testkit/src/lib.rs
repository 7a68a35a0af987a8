//! Test harness for Arbiter's end-to-end tests: a real server (runtime and
//! WebSocket gateway) in the test process, listening on a loopback port, with
//! the reference plugins, and clients connected to it.
//!
//! Every test gets its own server on its own port, so tests run in parallel.
//! Configuration that tests tune (TTLs, outbox sizes, rate limits) is set
//! with [`TestServer::start_with`].
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

use arbiter_client::{Client, ClientConfig};
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
    stop: Option<oneshot::Sender<()>>,
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
        let mut config = test_config();
        tune(&mut config);
        let runtime = Runtime::start(config, Arc::new(Metrics::new()))
            .expect("the runtime starts (did `cargo xtask plugins` run?)");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(arbiter_gateway::serve_ws(
            listener,
            runtime.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            runtime,
            stop: Some(stop),
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.runtime.drain().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
