//! The WebSocket transport (tokio-tungstenite).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use arbiter_runtime::{FrameRx, FrameTx, InFrame, Runtime, serve_connection};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes, http};

/// Initial read buffer of a WebSocket connection. Client frames are small
/// (an arena move is ~40 bytes) and one read takes every frame waiting up to
/// this size (a dozen moves); a larger frame grows the buffer. 512 bytes
/// instead of 4 KiB saves 3.5 KiB per connection.
const READ_BUFFER: usize = 512;

/// How long a TCP connection has to finish the WebSocket upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest WebSocket message read at all, for a protocol frame limit of
/// `max_frame_bytes`: 16× the limit, at least 1 MiB. Between the two the
/// client gets `protocol.too_large`; above it the connection is closed.
pub fn ws_message_limit(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_mul(16).max(1 << 20)
}

/// Accepts WebSocket connections on `listener` until `shutdown` completes.
/// Each connection runs in its own task; those already running are not
/// interrupted (drain the runtime for that).
pub async fn serve_ws(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let runtime = runtime.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, runtime).await {
                            tracing::debug!(%peer, error = %e, "websocket upgrade failed");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn connection(stream: TcpStream, runtime: Arc<Runtime>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let limit = ws_message_limit(runtime.config().limits.max_frame_bytes);
    // tungstenite's default read buffer is 128 KiB per connection, allocated
    // and zeroed up front: at arena-move rates that memset was a quarter of
    // the server's CPU. Game frames are small; 512 bytes grow when needed.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    // Boxed: a task's future is as large as its largest state, and the
    // upgrade's state is twice the size of the rest of the connection's life;
    // boxed, it is freed once done instead of being paid for per connection.
    let upgrade = Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check_path,
        Some(config),
    ));
    let ws = tokio::time::timeout(UPGRADE_TIMEOUT, upgrade)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "websocket upgrade timed out"))?
        .map_err(io::Error::other)?;
    let (sink, stream) = ws.split();
    serve_connection(runtime, "ws", WsRx(stream), WsTx(sink)).await;
    Ok(())
}

/// Upgrades only `/` and `/ws` (PROTOCOL.md §1).
#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    match req.uri().path() {
        "/" | "/ws" => Ok(resp),
        _ => {
            let mut err = ErrorResponse::new(Some("not found: connect to / or /ws".into()));
            *err.status_mut() = http::StatusCode::NOT_FOUND;
            Err(err)
        }
    }
}

struct WsRx(SplitStream<WebSocketStream<TcpStream>>);

impl FrameRx for WsRx {
    async fn recv(&mut self) -> Option<io::Result<InFrame>> {
        loop {
            let msg = match self.0.next().await? {
                Ok(m) => m,
                Err(e) => return Some(Err(io::Error::other(e))),
            };
            return Some(Ok(match msg {
                Message::Text(t) => InFrame::Text(Bytes::from(t)),
                Message::Binary(b) => InFrame::Binary(b),
                Message::Ping(_) | Message::Pong(_) => InFrame::Ping,
                Message::Close(_) => InFrame::Close,
                Message::Frame(_) => continue,
            }));
        }
    }
}

struct WsTx(SplitSink<WebSocketStream<TcpStream>, Message>);

impl FrameTx for WsTx {
    async fn send(&mut self, frame: Bytes, text: bool) -> io::Result<()> {
        let msg = if text {
            Message::Text(Utf8Bytes::try_from(frame).map_err(io::Error::other)?)
        } else {
            Message::Binary(frame)
        };
        self.0.feed(msg).await.map_err(io::Error::other)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await.map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}
