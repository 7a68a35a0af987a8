//! The Rust client SDK for Arbiter: what the end-to-end tests, the benches and
//! the load generator use to talk to a server, and a reference for client
//! authors in other languages.
//!
//! # Two layers
//!
//! - [`Replica`] (sans-IO): one room's state, seq and checksum, advanced by
//!   `state.snapshot` and `state.patch`. A patch at or below the current seq is
//!   a duplicate and ignored ([`PatchOutcome::Duplicate`]: a resumed session
//!   replays the unacknowledged patches it still keeps); one beyond `seq + 1` is a
//!   [`ReplicaError::Gap`]; a patch that does not apply or whose checksum
//!   differs is refused and the state stays as it was. Use it directly when you
//!   bring your own transport.
//! - [`Client`] (tokio): one session over WebSocket (`TCP_NODELAY` on) or
//!   QUIC ([`Transport`]). A background task owns the connection; the handle
//!   you hold sends commands to it and reads what it routes back:
//!   - requests ([`Client::join_or_create`], [`Client::list`],
//!     [`Client::enqueue`], or any frame through [`Client::request`]) get a
//!     fresh `rid` (`"c-N"`) and return the matching `rpc.response`, or
//!     [`ClientError::Rpc`] with the wire code when it says `ok: false`;
//!   - room state is applied to per-room replicas as it arrives, acked with
//!     `state.ack { room, seq, checksum }` (every `ack_every` patches), and
//!     repaired with `state.resync` on a gap or mismatch; read it with
//!     [`Client::state`] or wait for it with [`Client::wait_for_state`];
//!   - everything else (room messages, presence, matchmaking, errors,
//!     connection changes) is an [`Event`] read with [`Client::next_event`].
//!
//! # Connection lifecycle
//!
//! The task pings every `heartbeat_ms / 2` (see [`Heartbeat`]). When the
//! transport drops — a network failure, the server closing it, or
//! [`Client::drop_transport`] in a test — and `auto_resume` is on, the client
//! reports [`Event::Disconnected`], reconnects with its `session_id` and
//! `resume_token` (backoff from 50 ms, at most `resume_window`, 10 s by
//! default), and reports [`Event::Resumed`] (replicas kept; the server replays
//! the missed patches) or [`Event::SessionLost`] (a new session; replicas
//! cleared). Requests already sent when the transport dropped fail with
//! [`ClientError::ConnectionLost`]; requests made while reconnecting are sent
//! after. If resuming fails (the server refuses, or `resume_window` passes)
//! the client reports a second [`Event::Disconnected`] whose reason starts with
//! `resume failed`, closes, and the event stream ends.
//! [`Client::close`] (or dropping the client) closes cleanly, without resume.
//!
//! For tests of hostile input, [`Client::send_raw_text`] and
//! [`Client::send_raw_binary`] put arbitrary bytes on the wire, and
//! [`RawQuic`] is a bare QUIC connection.
//!
//! # QUIC and datagrams
//!
//! `ClientConfig::new(..).with_quic("127.0.0.1:4434", QuicTrust::Sha256(hash))`
//! makes a QUIC-only session: reliable frames on the first stream, unreliable
//! ones as datagrams. A WebSocket session can instead attach a QUIC
//! connection as its datagram path with [`Client::attach_quic`] (the server's
//! `handshake.ok` says where, and which certificate hash to pin).
//! [`Client::send_message`] sends the types of
//! [`ClientConfig::unreliable_types`] (default `move`, `*.move`, `*.pos`) as
//! datagrams when a QUIC path exists and the frame fits the connection's
//! `max_datagram_size`, and over the reliable path otherwise;
//! [`Client::datagram_stats`] counts which. Datagrams from the server are
//! decoded and handled like stream frames. `docs/transports.md` has the wire
//! details.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use arbiter_client::{Client, ClientConfig, Event};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), arbiter_client::ClientError> {
//! let mut client = Client::connect(ClientConfig::new("ws://127.0.0.1:4000/", "demo")).await?;
//!
//! // Join (or create) a counter room; its snapshot has arrived when this returns.
//! let joined = client.join_or_create("counter", Some("lobby"), None).await?;
//! assert_eq!(client.state(&joined.room), Some(json!({ "counter": 0 })));
//!
//! // Fire-and-forget input; the change arrives as a patch.
//! client.send_message(&joined.room, "inc", json!({ "by": 2 }))?;
//! let state = client
//!     .wait_for_state(&joined.room, |s| s["counter"] == 2, Duration::from_secs(5))
//!     .await?;
//! println!("counter is now {}", state["counter"]);
//!
//! // Everything else arrives as events.
//! client.send_message(&joined.room, "inc", json!({ "by": "two" }))?;
//! while let Some(event) = client.next_event().await {
//!     if let Event::Message { kind, data, .. } = event {
//!         println!("{kind}: {data}"); // error: {"reason": ...}
//!         break;
//!     }
//! }
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions where the protocol page is silent
//!
//! - Snapshots are acked too (with their seq and checksum), so a resume replays
//!   only what came after them; `ack_every = 0` turns acks off.
//! - Automatic resyncs stop after three in a row without a patch applied in
//!   between ([`Event::ReplicaFailed`]), so a server and client that disagree
//!   on checksums do not loop; [`Client::resync`] asks again.
//! - Frames of the wrong WebSocket kind for the negotiated codec (text on a
//!   MessagePack session) and undecodable frames are dropped and reported as
//!   [`Event::InvalidFrame`].
//! - An `error` frame carrying the rid of a waiting request (rate limited,
//!   too large) completes that request with [`ClientError::Rpc`].

mod client;
mod config;
mod core;
mod error;
mod event;
mod replica;

pub use client::{Client, DatagramStats, RawQuic};
pub use config::{ClientConfig, Heartbeat, QuicTarget, QuicTrust, Transport};
pub use error::{ClientError, ReplicaError};
pub use event::Event;
pub use replica::{PatchOutcome, Replica};

pub use arbiter_protocol::{
    ClientFrame, Codec, ErrorCode, Joined, QuicInfo, RoomId, RoomInfo, RpcOk, Seq, SessionId,
    TicketId,
};

/// The README's client example, compiled as a doctest so it cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
