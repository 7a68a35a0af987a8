//! Transports for the Arbiter runtime. This crate moves bytes and knows
//! nothing of rooms: it accepts connections, frames messages, and hands the
//! two halves to [`arbiter_runtime::serve_connection`] (or, for QUIC, to
//! [`arbiter_runtime::serve_connection_with_datagrams`]).
//!
//! # WebSocket
//!
//! [`serve_ws`] accepts on a `TcpListener` (with `TCP_NODELAY`), upgrades on
//! the paths `/` and `/ws` (anything else gets 404), and carries one protocol
//! frame per WebSocket message: text for JSON, binary for MessagePack
//! (PROTOCOL.md §1). WebSocket pings count as heartbeat traffic.
//!
//! A message over the protocol's frame limit is still read (up to
//! [`ws_message_limit`]) so that the runtime can answer `protocol.too_large`
//! and keep the connection; anything larger closes the connection.
//!
//! # QUIC
//!
//! [`serve_quic`] serves a [`QuicListener`] (quinn, ALPN `arbiter/1`,
//! datagrams on): the first client-opened bidirectional stream carries
//! length-prefixed frames, datagrams carry unreliable frames. The first
//! frame is a handshake (a QUIC-only session) or a `session.attach` (the
//! connection becomes a WebSocket session's unreliable path). The listener's
//! certificate comes from PEM files or is generated at start
//! ([`QuicIdentity::self_signed`]: ECDSA P-256, 13 days, so that browsers'
//! WebTransport can pin it); bind it *before* starting the runtime and put
//! [`QuicListener::info`] into `RuntimeConfig::quic`, so `handshake.ok`
//! announces the port and the certificate's SHA-256. See
//! `docs/transports.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use arbiter_gateway::{QuicIdentity, QuicListener, serve_quic};
//! use arbiter_runtime::{Metrics, Runtime, RuntimeConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let identity = QuicIdentity::self_signed()?;
//! let quic = QuicListener::bind("127.0.0.1:4434".parse()?, &identity)?;
//! let config = RuntimeConfig { quic: Some(quic.info()), ..RuntimeConfig::default() };
//! let runtime = Runtime::start(config, Arc::new(Metrics::new()))?;
//! serve_quic(quic, runtime, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use arbiter_runtime::{Metrics, Runtime, RuntimeConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::start(RuntimeConfig::default(), Arc::new(Metrics::new()))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! arbiter_gateway::serve_ws(listener, runtime, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

mod quic;
mod ws;

pub use quic::framing::{prefix as quic_frame_prefix, split_frame as split_quic_frame};
pub use quic::{
    ALPN, CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_REFUSED, GENERATED_CERT_VALIDITY, QuicError,
    QuicIdentity, QuicListener, serve_quic, sha256_hex,
};
pub use ws::{serve_ws, ws_message_limit};
