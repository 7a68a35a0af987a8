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
