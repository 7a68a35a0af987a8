//! The QUIC transport (quinn): QUIC-only sessions and `session.attach`.
//!
//! A connection's first client-opened bidirectional stream carries its
//! reliable frames, each a 4-byte big-endian length then the encoded frame
//! (PROTOCOL.md §1); QUIC DATAGRAM frames carry unreliable frames, one
//! encoded frame per datagram. The first frame on the stream decides what the
//! connection is:
//!
//! - a **handshake**: a QUIC-only session. The stream halves and the
//!   connection's datagrams go to
//!   [`arbiter_runtime::serve_connection_with_datagrams`], exactly like a
//!   WebSocket connection plus a datagram path.
//! - a **`session.attach`**: the connection becomes the unreliable path of a
//!   live (WebSocket) session ([`Runtime::attach`]); the server answers
//!   `session.attach.ok` and delivers every datagram to that session until the
//!   connection closes. A wrong pair gets `error auth.invalid_token` and the
//!   connection is closed with [`CLOSE_REFUSED`].
//!
//! Closing: the client finishing its stream (FIN at a frame boundary) or
//! closing the connection with application code 0 ends the session, like a
//! WebSocket close frame; any other loss suspends it for resume. A frame
//! length over [`crate::ws_message_limit`] closes the connection with
//! [`CLOSE_PROTOCOL`].

pub(crate) mod framing;
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arbiter_protocol::{
    Codec, ErrorCode, ErrorPayload, Opening, QuicInfo, Rid, ServerFrame, SessionAttach,
    SessionAttachOk, decode_opening,
};
use arbiter_runtime::{
    DatagramTx, FrameRx, FrameTx, InFrame, Runtime, serve_connection_with_datagrams,
};
use bytes::Bytes;

use self::framing::{FrameReader, Read, ReadFailure};
pub use self::tls::{GENERATED_CERT_VALIDITY, QuicIdentity, sha256_hex};
use crate::ws::ws_message_limit;

/// The ALPN protocol id of Arbiter over QUIC.
pub const ALPN: &[u8] = b"arbiter/1";

/// Application close code: a normal close.
pub const CLOSE_NORMAL: u32 = 0;
/// Application close code: bad framing (a length over the limit, a truncated
/// frame, no stream).
pub const CLOSE_PROTOCOL: u32 = 1;
/// Application close code: the opening frame was refused (bad handshake,
/// wrong attach pair).
pub const CLOSE_REFUSED: u32 = 2;

/// How long a connection has for the TLS handshake, opening its stream and
/// sending its first frame.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing stream may take to deliver its last frames.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// No packet for this long closes a connection (clients keep alive).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound datagrams buffered per connection before the oldest are dropped.
const DATAGRAM_RECEIVE_BUFFER: usize = 256 * 1024;
/// Outbound datagrams buffered per connection before the oldest are dropped.
const DATAGRAM_SEND_BUFFER: usize = 256 * 1024;

/// Why the QUIC listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// A certificate or key could not be generated, parsed or used.
    #[error("QUIC certificate: {0}")]
    Certificate(String),
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The UDP socket could not be bound.
    #[error("cannot bind the QUIC listener on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// A bound QUIC endpoint, not yet serving. Bind it before starting the
/// runtime so that [`QuicListener::info`] can go into
/// `RuntimeConfig::quic` (announced in every `handshake.ok`).
#[derive(Debug)]
pub struct QuicListener {
    endpoint: quinn::Endpoint,
    local_addr: SocketAddr,
    cert_sha256: String,
}

impl QuicListener {
    /// Binds a UDP socket on `addr` serving ALPN `arbiter/1` with
    /// `identity`, datagrams enabled. Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr, identity: &QuicIdentity) -> Result<QuicListener, QuicError> {
        let endpoint = quinn::Endpoint::server(identity.server_config()?, addr)
            .map_err(|source| QuicError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| QuicError::Bind { addr, source })?;
        Ok(QuicListener {
            endpoint,
            local_addr,
            cert_sha256: identity.cert_sha256().to_owned(),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The quinn endpoint, for a server that accepts connections itself
    /// instead of through [`serve_quic`] (the benchmark floor).
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// What `handshake.ok` announces: the UDP port and the certificate's
    /// SHA-256.
    pub fn info(&self) -> QuicInfo {
        QuicInfo {
            port: self.local_addr.port(),
            cert_sha256: self.cert_sha256.clone(),
        }
    }
}

impl QuicIdentity {
    /// The quinn server configuration of an Arbiter QUIC endpoint with this
    /// identity: TLS 1.3, ALPN `arbiter/1`, one client bidirectional stream,
    /// datagrams with bounded buffers, 30 s idle timeout.
    fn server_config(&self) -> Result<quinn::ServerConfig, QuicError> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(self.server_crypto()?)
            .map_err(|e| QuicError::Certificate(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::new(transport_config()));
        Ok(config)
    }
}

/// The per-connection transport settings: one client bidirectional stream,
/// no unidirectional ones, datagrams with bounded buffers, 30 s idle timeout.
fn transport_config() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(1))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok())
        .datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BUFFER))
        .datagram_send_buffer_size(DATAGRAM_SEND_BUFFER);
    transport
}

/// Accepts QUIC connections until `shutdown` completes, then refuses new
/// ones. Each connection runs in its own task; those already running are not
/// interrupted (drain the runtime for that).
pub async fn serve_quic(
    listener: QuicListener,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let endpoint = listener.endpoint;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                endpoint.set_server_config(None);
                return Ok(());
            }
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else {
                    return Err(io::Error::other("the QUIC endpoint closed"));
                };
                let runtime = runtime.clone();
                tokio::spawn(async move {
                    let peer = incoming.remote_address();
                    if let Err(e) = connection(incoming, runtime).await {
                        tracing::debug!(%peer, error = %e, "QUIC connection failed to open");
                    }
                });
            }
        }
    }
}

/// Opens one connection and serves it as a session or an attachment.
async fn connection(incoming: quinn::Incoming, runtime: Arc<Runtime>) -> io::Result<()> {
    let conn = tokio::time::timeout(OPEN_TIMEOUT, incoming)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "QUIC handshake timed out"))?
        .map_err(io::Error::other)?;
    let opened = tokio::time::timeout(OPEN_TIMEOUT, conn.accept_bi()).await;
    let Ok(Ok((send, recv))) = opened else {
        conn.close(CLOSE_PROTOCOL.into(), b"open a bidirectional stream first");
        return Err(io::Error::other("no bidirectional stream"));
    };
    let limit = ws_message_limit(runtime.config().limits.max_frame_bytes);
    let mut reader = FrameReader::new(recv, limit);
    let mut tx = QuicTx::new(send, conn.clone());
    let first = match tokio::time::timeout(OPEN_TIMEOUT, reader.next()).await {
        Ok(Ok(Read::Frame(first))) => first,
        Ok(Ok(Read::Finished)) => {
            conn.close(CLOSE_NORMAL.into(), b"");
            return Ok(());
        }
        Ok(Err(e)) => {
            conn.close(CLOSE_PROTOCOL.into(), b"bad framing");
            return Err(e.into_io());
        }
        Err(_) => {
            let reply = error_frame(
                ErrorCode::HandshakeRequired,
                "no handshake within 10 s; the first frame must be the JSON handshake",
                None,
            );
            refuse(&conn, &mut tx, &reply).await;
            return Ok(());
        }
    };
    match decode_opening(&first, &runtime.config().limits) {
        Ok(Opening::Attach { rid, attach }) => {
            serve_attachment(&runtime, conn, tx, reader, rid, attach).await;
        }
        Err(e) if e.code == ErrorCode::AuthInvalidToken => {
            refuse(&conn, &mut tx, &e.to_reply()).await;
        }
        opening => {
            // The runtime decides everything about the handshake; the codec
            // is read here only to label stream frames as text or binary.
            let binary = match opening {
                Ok(Opening::Handshake(h)) => h.negotiate().is_ok_and(Codec::is_binary),
                _ => false,
            };
            let datagrams: Arc<dyn DatagramTx> = Arc::new(QuicDatagrams(conn.clone()));
            let rx = QuicRx {
                first: Some(first),
                reader,
                conn: conn.clone(),
                binary,
            };
            serve_connection_with_datagrams(runtime, "quic", rx, tx, datagrams).await;
            conn.close(CLOSE_NORMAL.into(), b"session over");
        }
    }
    Ok(())
}

/// A `session.attach`: answer, then deliver datagrams until the connection
/// (or the client's stream) closes.
async fn serve_attachment(
    runtime: &Arc<Runtime>,
    conn: quinn::Connection,
    mut tx: QuicTx,
    mut reader: FrameReader,
    rid: Option<Rid>,
    attach: SessionAttach,
) {
    let path: Arc<dyn DatagramTx> = Arc::new(QuicDatagrams(conn.clone()));
    let attached = match runtime.attach(&attach.session_id, &attach.resume_token, path) {
        Ok(attached) => attached,
        Err(code) => {
            tracing::debug!(%code, "session.attach refused");
            let reply = error_frame(
                ErrorCode::AuthInvalidToken,
                "session.attach: no live session has this session_id and resume_token",
                rid,
            );
            refuse(&conn, &mut tx, &reply).await;
            return;
        }
    };
    let metrics = runtime.metrics();
    let label = ["quic_attach"];
    metrics.connections.with_label_values(&label).inc();
    metrics.connections_total.with_label_values(&label).inc();
    let ok = ServerFrame::new(SessionAttachOk {}).with_rid(rid);
    if send_json(&mut tx, &ok).await.is_ok() {
        loop {
            tokio::select! {
                datagram = conn.read_datagram() => match datagram {
                    Ok(bytes) => attached.deliver(bytes),
                    Err(_) => break,
                },
                frame = reader.next() => match frame {
                    // The stream carries nothing after the attach; extra
                    // frames (length-checked) are ignored.
                    Ok(Read::Frame(_)) => {}
                    Ok(Read::Finished) => break,
                    Err(ReadFailure::Framing(_)) => {
                        conn.close(CLOSE_PROTOCOL.into(), b"bad framing");
                        break;
                    }
                    Err(ReadFailure::Stream(_)) => break,
                },
            }
        }
    }
    drop(attached);
    metrics.connections.with_label_values(&label).dec();
    conn.close(CLOSE_NORMAL.into(), b"detached");
}

/// Sends `reply` (an error) on the stream, waits briefly for it to be
/// delivered, and closes the connection with [`CLOSE_REFUSED`].
async fn refuse(conn: &quinn::Connection, tx: &mut QuicTx, reply: &ServerFrame) {
    if send_json(tx, reply).await.is_ok() {
        tx.finish_and_wait().await;
    }
    conn.close(CLOSE_REFUSED.into(), b"refused");
}

fn error_frame(code: ErrorCode, reason: &str, rid: Option<Rid>) -> ServerFrame {
    ServerFrame::new(ErrorPayload {
        code,
        reason: reason.to_owned(),
    })
    .with_rid(rid)
}

async fn send_json(tx: &mut QuicTx, frame: &ServerFrame) -> io::Result<()> {
    let mut buf = Vec::with_capacity(128);
    Codec::Json
        .encode_server(frame, &mut buf)
        .map_err(io::Error::other)?;
    tx.send(buf.into(), true).await?;
    tx.flush().await
}

/// A connection's datagrams as a session's unreliable path.
struct QuicDatagrams(quinn::Connection);

impl DatagramTx for QuicDatagrams {
    fn max_size(&self) -> Option<usize> {
        self.0.max_datagram_size()
    }

    fn send(&self, frame: Bytes) -> bool {
        // When the send buffer is full quinn drops the oldest datagrams: for
        // unreliable frames the newest are the ones worth sending.
        self.0.send_datagram(frame).is_ok()
    }
}

/// The receiving half of a QUIC-only session: the handshake frame, then
/// stream frames and datagrams as they come.
struct QuicRx {
    first: Option<Bytes>,
    reader: FrameReader,
    conn: quinn::Connection,
    binary: bool,
}

impl FrameRx for QuicRx {
    async fn recv(&mut self) -> Option<io::Result<InFrame>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(InFrame::Text(first)));
        }
        let binary = self.binary;
        tokio::select! {
            frame = self.reader.next() => Some(match frame {
                Ok(Read::Frame(b)) if binary => Ok(InFrame::Binary(b)),
                Ok(Read::Frame(b)) => Ok(InFrame::Text(b)),
                Ok(Read::Finished) => Ok(InFrame::Close),
                Err(e) if e.is_clean_close() => Ok(InFrame::Close),
                Err(e) => {
                    if let ReadFailure::Framing(why) = &e {
                        tracing::debug!(error = %why, "closing a QUIC connection: bad framing");
                        self.conn.close(CLOSE_PROTOCOL.into(), b"bad framing");
                    }
                    Err(e.into_io())
                }
            }),
            datagram = self.conn.read_datagram() => Some(match datagram {
                Ok(b) => Ok(InFrame::Datagram(b)),
                Err(quinn::ConnectionError::ApplicationClosed(close))
                    if close.error_code == quinn::VarInt::from_u32(CLOSE_NORMAL) =>
                {
                    Ok(InFrame::Close)
                }
                Err(e) => Err(io::Error::other(e)),
            }),
        }
    }
}

/// The sending half: frames are queued with their prefixes and written in
/// one go on flush.
struct QuicTx {
    send: quinn::SendStream,
    conn: quinn::Connection,
    pending: Vec<Bytes>,
}

impl QuicTx {
    fn new(send: quinn::SendStream, conn: quinn::Connection) -> QuicTx {
        QuicTx {
            send,
            conn,
            pending: Vec::with_capacity(64),
        }
    }

    /// Finishes the stream and waits (bounded) until the peer has everything.
    async fn finish_and_wait(&mut self) {
        if self.send.finish().is_ok() {
            let _ = tokio::time::timeout(CLOSE_FLUSH, self.send.stopped()).await;
        }
    }
}

impl FrameTx for QuicTx {
    async fn send(&mut self, frame: Bytes, _text: bool) -> io::Result<()> {
        let prefix = framing::prefix(frame.len())?;
        self.pending.push(Bytes::copy_from_slice(&prefix));
        self.pending.push(frame);
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.send.write_all_chunks(&mut self.pending).await;
        self.pending.clear();
        result.map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self.flush().await;
        self.finish_and_wait().await;
        self.conn.close(CLOSE_NORMAL.into(), b"closed");
    }
}
