//! What a gateway implements to carry a session's frames: a receiving half and
//! a sending half of one reliable, ordered, message-framed connection.

use std::future::Future;
use std::io;

use bytes::Bytes;

/// One inbound unit from a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InFrame {
    /// A text message (JSON).
    Text(Bytes),
    /// A binary message (MessagePack).
    Binary(Bytes),
    /// Transport-level liveness (a WebSocket ping): counts as traffic.
    Ping,
    /// The peer closed the connection cleanly (a WebSocket close frame).
    Close,
    /// An unreliable frame (a QUIC datagram), in the session's codec.
    Datagram(Bytes),
}

/// A session's unreliable path (QUIC datagrams). Sync and non-blocking, so
/// that a room actor can send without awaiting.
pub trait DatagramTx: Send + Sync + 'static {
    /// The largest datagram the path carries now; `None` when it carries none.
    fn max_size(&self) -> Option<usize>;
    /// Sends one encoded frame as one datagram; false when it could not be
    /// sent (too large, connection gone).
    fn send(&self, frame: Bytes) -> bool;
}

/// The receiving half.
pub trait FrameRx: Send + 'static {
    /// The next frame; `None` or an error when the connection is gone.
    fn recv(&mut self) -> impl Future<Output = Option<io::Result<InFrame>>> + Send;
}

/// The sending half. `send` may buffer; `flush` writes everything buffered
/// (one write per batch: a session's frames of one tick go out together).
pub trait FrameTx: Send + 'static {
    /// Queues one frame (`text`: JSON as a text message; else binary).
    fn send(&mut self, frame: Bytes, text: bool) -> impl Future<Output = io::Result<()>> + Send;
    /// Writes what was queued.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the connection (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}
