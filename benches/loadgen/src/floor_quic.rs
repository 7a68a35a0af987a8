//! The floor's QUIC endpoint (PROTOCOL.md §1), so that arena-move over QUIC
//! has a floor too.
//!
//! Like `arbiter`'s (`arbiter-gateway`): quinn with rustls and ring, TLS 1.3,
//! ALPN `arbiter/1`, a self-signed ECDSA P-256 certificate whose SHA-256
//! `handshake.ok` announces, one client bidirectional stream per connection,
//! datagrams on, the same buffers and idle timeout. A connection's first
//! bidirectional stream carries length-prefixed frames (4-byte big-endian
//! length, then the frame): the JSON handshake, then frames in the
//! negotiated codec, answered as the WebSocket floor answers them; every
//! datagram (a `move`) is decoded and dropped. Each tick, a joined client
//! gets the tick's patch: the bytes encoded once per tick, with their prefix.
//!
//! The endpoint is `arbiter-gateway`'s [`QuicListener`] (certificate, TLS,
//! transport settings) and the stream framing is the gateway's; only the
//! serving differs (no runtime behind it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbiter_gateway::{QuicIdentity, QuicListener, quic_frame_prefix, split_quic_frame};
use arbiter_protocol::{Codec, QuicInfo, ServerFrame};
use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast;

use crate::error::{LoadgenError, Result};
use crate::floor::{FloorCtx, Opening, TickFrames, next_tick};

/// Bytes of a stream frame's length prefix.
pub(crate) const PREFIX: usize = 4;
/// How long a connection has for the TLS handshake, opening its stream and
/// sending its handshake.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refusal may take to reach the client before the close.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// Largest chunk read from a stream at once.
const READ_CHUNK: usize = 64 * 1024;

fn quic_err(e: impl std::fmt::Display) -> LoadgenError {
    LoadgenError::Quic(e.to_string())
}

/// The floor's bound QUIC endpoint (the gateway's listener with a
/// self-signed certificate), not yet serving: bind it, print
/// [`FloorQuic::local_addr`], then hand it to [`crate::serve_floor`], which
/// announces [`FloorQuic::info`] in every `handshake.ok`.
#[derive(Debug)]
pub struct FloorQuic(QuicListener);

impl FloorQuic {
    /// Binds a UDP socket on `addr` with a fresh self-signed certificate for
    /// `localhost`, `127.0.0.1` and `::1`. Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr) -> Result<FloorQuic> {
        let identity = QuicIdentity::self_signed().map_err(quic_err)?;
        QuicListener::bind(addr, &identity)
            .map(FloorQuic)
            .map_err(quic_err)
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// What `handshake.ok` announces: the UDP port and the certificate's
    /// SHA-256, which clients pin.
    pub fn info(&self) -> QuicInfo {
        self.0.info()
    }

    /// The next incoming connection; `None` when the endpoint is closed.
    pub(crate) async fn accept(&self) -> Option<quinn::Incoming> {
        self.0.endpoint().accept().await
    }

    /// Refuses new connections (those open go on).
    pub(crate) fn stop_accepting(&self) {
        self.0.endpoint().set_server_config(None);
    }
}

/// `frame` encoded in `codec` after its 4-byte big-endian length: one QUIC
/// stream frame (`[PREFIX..]` is the bare frame).
pub(crate) fn prefixed(codec: Codec, frame: &ServerFrame) -> Result<Bytes> {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(&[0; PREFIX]);
    codec
        .encode_server(frame, &mut buf)
        .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
    let prefix = quic_frame_prefix(buf.len() - PREFIX).map_err(quic_err)?;
    buf[..PREFIX].copy_from_slice(&prefix);
    Ok(Bytes::from(buf))
}

/// Length-prefixed frames from a receive stream. Cancel-safe (the buffer
/// lives here), so it can sit in a `select!`.
struct FrameReader {
    recv: quinn::RecvStream,
    buf: BytesMut,
    limit: usize,
}

impl FrameReader {
    /// The next frame; `None` when the client finished the stream at a frame
    /// boundary.
    async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(frame) = split_quic_frame(&mut self.buf, self.limit).map_err(quic_err)? {
                return Ok(Some(frame));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) if self.buf.is_empty() => return Ok(None),
                Ok(None) => return Err(quic_err("the stream ended inside a frame")),
                Err(e) => return Err(quic_err(e)),
            }
        }
    }
}

/// One QUIC client, from the TLS handshake to the close.
pub(crate) async fn connection(
    incoming: quinn::Incoming,
    ticks: broadcast::Receiver<Arc<TickFrames>>,
    ctx: Arc<FloorCtx>,
) -> Result<()> {
    let conn = tokio::time::timeout(OPEN_TIMEOUT, incoming)
        .await
        .map_err(|_| LoadgenError::Timeout("opening a QUIC connection"))?
        .map_err(quic_err)?;
    let result = serve(&conn, ticks, &ctx).await;
    conn.close(quinn::VarInt::from_u32(0), b"");
    result
}

/// Handshake on the first stream, then frames and datagrams in and patches
/// out until the client leaves.
async fn serve(
    conn: &quinn::Connection,
    mut ticks: broadcast::Receiver<Arc<TickFrames>>,
    ctx: &FloorCtx,
) -> Result<()> {
    let opened = tokio::time::timeout(OPEN_TIMEOUT, conn.accept_bi())
        .await
        .map_err(|_| LoadgenError::Timeout("waiting for the QUIC stream"))?;
    let (mut send, recv) = opened.map_err(quic_err)?;
    let mut reader = FrameReader {
        recv,
        buf: BytesMut::with_capacity(4096),
        limit: ctx.limits.max_frame_bytes,
    };
    let first = tokio::time::timeout(OPEN_TIMEOUT, reader.next())
        .await
        .map_err(|_| LoadgenError::Timeout("waiting for the handshake"))?;
    let Some(first) = first? else {
        return Ok(());
    };
    let mut session = match ctx.open(&first)? {
        Opening::Session(session, ok) => {
            send.write_chunk(prefixed(Codec::Json, &ok)?)
                .await
                .map_err(quic_err)?;
            session
        }
        Opening::Refused(reply) => {
            send.write_chunk(prefixed(Codec::Json, &reply)?)
                .await
                .map_err(quic_err)?;
            if send.finish().is_ok() {
                let _ = tokio::time::timeout(CLOSE_FLUSH, send.stopped()).await;
            }
            return Ok(());
        }
    };
    loop {
        tokio::select! {
            frame = reader.next() => {
                let Some(bytes) = frame? else { return Ok(()) };
                let mut replies = ctx
                    .answer(&mut session, &bytes)
                    .iter()
                    .map(|reply| prefixed(session.codec, reply))
                    .collect::<Result<Vec<_>>>()?;
                send.write_all_chunks(&mut replies).await.map_err(quic_err)?;
            }
            datagram = conn.read_datagram() => {
                // Moves: decoded like every frame, then dropped.
                let Ok(bytes) = datagram else { return Ok(()) };
                let _ = session.codec.decode_client(&bytes, &ctx.limits);
            }
            tick = next_tick(&mut ticks) => {
                let Some(frames) = tick else { return Ok(()) };
                if session.joined {
                    send.write_chunk(frames.quic(session.codec)).await.map_err(quic_err)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arbiter_protocol::{Limits, Pong, ServerMessage};

    use super::*;

    #[test]
    fn prefixed_frames_split_back_and_limits_hold() {
        let frame = ServerFrame::new(Pong {
            ts: None,
            server_ts: 2,
        });
        let mut buf = BytesMut::new();
        for codec in Codec::SUPPORTED {
            buf.extend_from_slice(&prefixed(codec, &frame).unwrap());
        }
        let whole = buf.len();
        let mut partial = BytesMut::from(&buf[..whole - 1]);
        for codec in Codec::SUPPORTED {
            let bytes = match split_quic_frame(&mut buf, 1024).unwrap() {
                Some(bytes) => bytes,
                None => panic!("a whole frame is there"),
            };
            let decoded = codec
                .decode_server(&bytes, &Limits::for_server_frames())
                .unwrap();
            assert!(matches!(decoded.msg, ServerMessage::Pong(_)));
        }
        assert!(buf.is_empty());
        assert!(split_quic_frame(&mut partial, 1024).unwrap().is_some());
        assert_eq!(split_quic_frame(&mut partial, 1024).unwrap(), None);
        let mut big = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(split_quic_frame(&mut big, 1024).is_err());
    }

    /// A client of `quic`'s floor that has sent `first` and read the reply.
    async fn open(quic: &QuicInfo, first: &[u8]) -> (arbiter_client::RawQuic, ServerFrame) {
        let target = arbiter_client::QuicTarget::new(
            format!("127.0.0.1:{}", quic.port),
            arbiter_client::QuicTrust::Sha256(quic.cert_sha256.clone()),
        );
        let mut raw = arbiter_client::RawQuic::connect(&target).await.unwrap();
        raw.send_frame(first).await.unwrap();
        let reply = raw.next_json().await.unwrap();
        (raw, reply)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_input_neither_crashes_nor_stalls_the_floor() {
        let bounded = Duration::from_secs(20);
        tokio::time::timeout(bounded, async {
            let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let quic = FloorQuic::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let info = quic.info();
            let opts = crate::FloorOptions::default();
            let floor = tokio::spawn(crate::serve_floor(ws, Some(quic), opts, async {
                std::future::pending().await
            }));
            let hello =
                br#"{"v":1,"t":"handshake","p":{"v":1,"codecs":["json"],"project_id":"p"}}"#;

            // A bad handshake is refused with an error frame.
            let (_, reply) = open(&info, b"not a handshake").await;
            assert!(matches!(reply.msg, ServerMessage::Error(_)), "{reply:?}");

            // Garbage frames and datagrams are ignored; the session goes on.
            let (mut raw, reply) = open(&info, hello).await;
            assert!(
                matches!(reply.msg, ServerMessage::HandshakeOk(_)),
                "{reply:?}"
            );
            raw.send_frame(b"\xc1{garbage").await.unwrap();
            raw.send_datagram(b"\x00\xff not a frame".to_vec()).unwrap();
            raw.send_frame(br#"{"v":1,"t":"ping","p":{"ts":7}}"#)
                .await
                .unwrap();
            let pong = raw.next_json().await.unwrap();
            assert!(matches!(pong.msg, ServerMessage::Pong(_)), "{pong:?}");

            // A length over the limit closes that connection only.
            raw.send_stream_bytes(&u32::MAX.to_be_bytes())
                .await
                .unwrap();
            assert_eq!(raw.closed().await, Some(0));
            let (_, reply) = open(&info, hello).await;
            assert!(
                matches!(reply.msg, ServerMessage::HandshakeOk(_)),
                "{reply:?}"
            );
            assert!(!floor.is_finished());
            floor.abort();
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn binds_with_a_pinnable_certificate() {
        let quic = FloorQuic::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let info = quic.info();
        assert_ne!(info.port, 0);
        assert_eq!(info.port, quic.local_addr().port());
        assert_eq!(info.cert_sha256.len(), 64);
        assert!(info.cert_sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
