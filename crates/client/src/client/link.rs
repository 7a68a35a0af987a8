//! [`Link`]: the session's reliable path, WebSocket or QUIC, behind one small
//! interface the background task drives.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tracing::debug;

use super::conn::Ws;
use super::quic::QuicLink;

/// One encoded frame to send. `text`: a JSON frame (a WebSocket text
/// message); QUIC does not distinguish.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub(crate) bytes: Bytes,
    pub(crate) text: bool,
}

/// What a link received.
#[derive(Debug)]
pub(crate) enum In {
    /// A reliable frame; `text` as the WebSocket message kind (QUIC frames
    /// are labelled with the session codec's kind).
    Frame(Bytes, bool),
    /// A datagram (an unreliable frame in the session codec).
    Datagram(Bytes),
    /// Nothing to route (a WebSocket ping or pong).
    Nothing,
    /// The link is gone, and why.
    Lost(String),
}

/// The reliable path of a session.
pub(crate) enum Link {
    /// A WebSocket; unreliable frames may use an attached QUIC connection.
    Ws(Box<Ws>),
    /// A QUIC-only session: its stream, and its own datagrams.
    Quic(Box<QuicLink>),
}

impl Link {
    /// Queues `out` (written on [`Link::flush`]).
    pub(crate) async fn feed(&mut self, out: Out) -> Result<(), String> {
        match self {
            Link::Ws(ws) => {
                let message = if out.text {
                    Message::Text(Utf8Bytes::try_from(out.bytes).map_err(|e| e.to_string())?)
                } else {
                    Message::Binary(out.bytes)
                };
                ws.feed(message).await.map_err(|e| e.to_string())
            }
            Link::Quic(quic) => quic.feed(out.bytes).map_err(|e| e.to_string()),
        }
    }

    /// Writes what was queued.
    pub(crate) async fn flush(&mut self) -> Result<(), String> {
        match self {
            Link::Ws(ws) => ws.flush().await.map_err(|e| e.to_string()),
            Link::Quic(quic) => quic.flush().await.map_err(|e| e.to_string()),
        }
    }

    /// The next thing received; `binary_codec` labels QUIC frames. Cancel-safe.
    pub(crate) async fn next(&mut self, binary_codec: bool) -> In {
        match self {
            Link::Ws(ws) => match ws.next().await {
                None => In::Lost("the server closed the connection".into()),
                Some(Err(e)) => In::Lost(e.to_string()),
                Some(Ok(Message::Text(text))) => In::Frame(Bytes::from(text), true),
                Some(Ok(Message::Binary(bytes))) => In::Frame(bytes, false),
                Some(Ok(Message::Close(close))) => {
                    let why = close
                        .as_ref()
                        .map_or_else(String::new, |c| format!(": {} {}", c.code, c.reason));
                    In::Lost(format!("the server closed the connection{why}"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => In::Nothing,
            },
            Link::Quic(quic) => {
                let quic = &mut **quic;
                // Split borrows: the stream reader and the connection.
                let conn = quic.conn.clone();
                tokio::select! {
                    frame = quic.next_frame() => match frame {
                        Ok(Some(bytes)) => In::Frame(bytes, !binary_codec),
                        Ok(None) => In::Lost("the server finished the QUIC stream".into()),
                        Err(e) => In::Lost(e.to_string()),
                    },
                    datagram = conn.read_datagram() => match datagram {
                        Ok(bytes) => In::Datagram(bytes),
                        Err(e) => In::Lost(e.to_string()),
                    },
                }
            }
        }
    }

    /// The connection whose datagrams are this link's own unreliable path.
    pub(crate) fn datagrams(&self) -> Option<&quinn::Connection> {
        match self {
            Link::Ws(_) => None,
            Link::Quic(quic) => Some(&quic.conn),
        }
    }

    /// Closes cleanly (a close frame, or a finished stream) and waits briefly
    /// for the server's side.
    pub(crate) async fn close_cleanly(&mut self) {
        match self {
            Link::Ws(ws) => close_ws(ws).await,
            Link::Quic(quic) => quic.close().await,
        }
    }

    /// Drops the connection as abruptly as a network failure would.
    pub(crate) fn drop_abruptly(&mut self) {
        match self {
            Link::Ws(ws) => {
                // RST instead of FIN.
                if let Err(e) = ws.get_ref().set_zero_linger() {
                    debug!(error = %e, "SO_LINGER not set; the drop will be a FIN");
                }
            }
            Link::Quic(quic) => quic.abort(),
        }
    }
}

/// Sends a close frame and waits (briefly) for the server's.
async fn close_ws(ws: &mut Ws) {
    if let Err(e) = ws.close(None).await {
        debug!(error = %e, "close frame not sent");
        return;
    }
    // Read until the server's close frame; the TCP close is the server's to do.
    let drain = async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        debug!("the server did not answer the close frame");
    }
}
