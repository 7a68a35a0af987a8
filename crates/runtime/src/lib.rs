//! The tokio shell around Arbiter's sans-IO cores: one actor per room, one
//! task pair per connection, the room directory, the session registry,
//! bounded outboxes and fan-out, and the metrics.
//!
//! # Data flow
//!
//! A gateway accepts a connection and calls [`serve_connection`] with the two
//! halves of a [`FrameRx`] / [`FrameTx`] transport. The connection's reader
//! checks the handshake (creating or resuming a session), then runs each frame
//! through the session's inbound pipeline (rate limit, decode, ping) and
//! routes it: room-scoped frames go over a bounded channel to the room's
//! actor. The actor owns an `arbiter_room::Room`, which calls the room's WASM
//! plugin and produces frames; a patch is one `SharedFrame` whose encoding
//! per codec is computed once and shared by every member. Frames go into each
//! member's bounded outbox; the connection's writer drains it, one flush per
//! batch.
//!
//! Nothing holds a lock across an await: the directory, registry and
//! outboxes use short `std::sync::Mutex` sections.
//!
//! # Sessions across transports
//!
//! A transport that drops suspends its session for `session_ttl`; a handshake
//! with the session's resume pair takes it over, and each of its rooms
//! replays the patches after the session's last ack (or a snapshot). A clean
//! close (a WebSocket close frame) ends the session at once.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use arbiter_runtime::{Metrics, Runtime, RuntimeConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::start(RuntimeConfig::default(), Arc::new(Metrics::new()))?;
//! println!("room types: {:?}", runtime.room_types());
//! // A gateway (arbiter-gateway) now feeds it connections; on shutdown:
//! runtime.drain().await;
//! # Ok(()) }
//! ```

mod attach;
mod config;
mod connection;
mod directory;
mod error;
mod lifecycle;
mod matchmaking;
pub mod metrics;
pub mod outbox;
mod plugin_logic;
mod room_actor;
mod router;
mod runtime;
mod session;
mod transport;

pub use attach::Attached;
pub use config::RuntimeConfig;
pub use connection::{serve_connection, serve_connection_with_datagrams};
pub use directory::RoomSummary;
pub use error::RuntimeError;
pub use metrics::Metrics;
pub use outbox::Outbox;
pub use plugin_logic::PluginLogic;
pub use runtime::Runtime;
pub use transport::{DatagramTx, FrameRx, FrameTx, InFrame};
