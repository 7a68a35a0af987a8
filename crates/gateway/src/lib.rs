//! Transports for the Arbiter runtime. This crate moves bytes and knows
//! nothing of rooms: it accepts connections, frames messages, and hands the
//! two halves to [`arbiter_runtime::serve_connection`].
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

mod ws;

pub use ws::{serve_ws, ws_message_limit};
