//! The client side of QUIC (quinn): connecting with a pinned certificate or a
//! CA, the length-prefixed stream framing, and the stream + datagram link
//! that carries a QUIC-only session or a WebSocket session's attachment.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbiter_protocol::{Codec, Limits, ServerFrame};
use bytes::{Buf, Bytes, BytesMut};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::config::{QuicTarget, QuicTrust};
use crate::error::ClientError;

/// ALPN of Arbiter over QUIC.
const ALPN: &[u8] = b"arbiter/1";
/// Keep-alive, so an idle attachment (no moves for a while) stays open.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// No packet for this long: the connection is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest chunk read from the stream at once.
const READ_CHUNK: usize = 64 * 1024;

fn io_err(e: impl std::error::Error + Send + Sync + 'static) -> ClientError {
    ClientError::Io(io::Error::other(e))
}

/// Opens a QUIC connection to `target` (one UDP socket per connection).
pub(crate) async fn connect(
    target: &QuicTarget,
) -> Result<(quinn::Endpoint, quinn::Connection), ClientError> {
    let bad =
        |why: String| ClientError::InvalidInput(format!("QUIC address {:?}: {why}", target.addr));
    let addr: SocketAddr = tokio::net::lookup_host(target.addr.as_str())
        .await
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))?;
    let host = match &target.server_name {
        Some(name) => name.clone(),
        None => host_of(&target.addr),
    };
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let endpoint = quinn::Endpoint::client(bind)?;
    let tls = client_crypto(&target.trust)?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(io_err)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok())
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(0))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    config.transport_config(Arc::new(transport));
    let connecting = endpoint.connect_with(config, addr, &host).map_err(io_err)?;
    let conn = connecting.await.map_err(io_err)?;
    Ok((endpoint, conn))
}

/// The host part of `HOST:PORT` (brackets of an IPv6 literal removed).
fn host_of(addr: &str) -> String {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// TLS 1.3, ALPN `arbiter/1`, the ring provider, and the trust asked for.
fn client_crypto(trust: &QuicTrust) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io_err)?;
    let mut config = match trust {
        QuicTrust::Sha256(hex) => {
            let pin = parse_pin(hex)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCert { pin, provider }))
                .with_no_client_auth()
        }
        QuicTrust::CaPem(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| ClientError::InvalidInput(format!("CA PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::InvalidInput(format!("CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ClientError::InvalidInput(
                    "the CA PEM holds no certificate".into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// A SHA-256 in hex (any case, `:` separators allowed).
fn parse_pin(hex: &str) -> Result<[u8; 32], ClientError> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let bad = || ClientError::InvalidInput(format!("cert_sha256 {hex:?}: expected 64 hex digits"));
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut pin = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| bad())?;
        pin[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    Ok(pin)
}

/// Accepts the one certificate whose SHA-256 is the pin; signatures are
/// still checked (the server must hold the certificate's key).
#[derive(Debug)]
struct PinnedCert {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Splits one length-prefixed frame off `buf` (`None`: incomplete). A length
/// over `limit` is an error.
pub(crate) fn split_frame(buf: &mut BytesMut, limit: usize) -> io::Result<Option<Bytes>> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let mut len = [0u8; 4];
    len.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len}-byte frame from the server is over {limit} bytes"),
        ));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// One QUIC connection with its first bidirectional stream: the reliable
/// frames of a QUIC-only session, or the attach exchange of an attachment.
pub(crate) struct QuicLink {
    // Kept so the UDP socket lives as long as the connection.
    _endpoint: quinn::Endpoint,
    pub(crate) conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    buf: BytesMut,
    pending: Vec<Bytes>,
}

impl std::fmt::Debug for QuicLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicLink")
            .field("remote", &self.conn.remote_address())
            .finish_non_exhaustive()
    }
}

impl QuicLink {
    /// Connects to `target` and opens the stream (QUIC only announces it to
    /// the server with its first frame).
    pub(crate) async fn open(target: &QuicTarget) -> Result<QuicLink, ClientError> {
        let (endpoint, conn) = connect(target).await?;
        let (send, recv) = conn.open_bi().await.map_err(io_err)?;
        Ok(QuicLink {
            _endpoint: endpoint,
            conn,
            send,
            recv,
            buf: BytesMut::with_capacity(4096),
            pending: Vec::new(),
        })
    }

    /// Queues one frame (written by [`QuicLink::flush`]).
    pub(crate) fn feed(&mut self, frame: Bytes) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 4 GiB"))?;
        self.pending
            .push(Bytes::copy_from_slice(&len.to_be_bytes()));
        self.pending.push(frame);
        Ok(())
    }

    /// Writes every queued frame.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.send.write_all_chunks(&mut self.pending).await;
        self.pending.clear();
        result.map_err(io::Error::other)
    }

    /// The next stream frame; `Ok(None)` when the server finished the stream.
    /// Cancel-safe.
    pub(crate) async fn next_frame(&mut self) -> io::Result<Option<Bytes>> {
        let limit = Limits::for_server_frames().max_frame_bytes;
        loop {
            if let Some(frame) = split_frame(&mut self.buf, limit)? {
                return Ok(Some(frame));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) if self.buf.is_empty() => return Ok(None),
                Ok(None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stream ended inside a frame",
                    ));
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }

    /// The next datagram. Cancel-safe.
    pub(crate) async fn next_datagram(&self) -> io::Result<Bytes> {
        self.conn.read_datagram().await.map_err(io::Error::other)
    }

    /// Reads the first stream frame, a JSON reply to the opening frame.
    pub(crate) async fn read_json_reply(&mut self) -> Result<ServerFrame, ClientError> {
        let frame = self.next_frame().await?.ok_or_else(|| {
            ClientError::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server closed the QUIC stream before answering",
            ))
        })?;
        Codec::Json
            .decode_server(&frame, &Limits::for_server_frames())
            .map_err(|e| {
                ClientError::Protocol(format!("undecodable reply on the QUIC stream: {e}"))
            })
    }

    /// Closes cleanly: finishes the stream, waits (bounded) for the server to
    /// close the connection, then closes it with code 0.
    pub(crate) async fn close(&mut self) {
        let _ = self.flush().await;
        if self.send.finish().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.closed()).await;
        }
        self.conn.close(quinn::VarInt::from_u32(0), b"closed");
    }

    /// Drops the connection as a network failure would look to the server
    /// (a close with a non-zero code: the session is suspended, not ended).
    pub(crate) fn abort(&self) {
        self.conn.close(quinn::VarInt::from_u32(3), b"dropped");
    }
}

/// A bare QUIC connection to an Arbiter server, for tests of the wire
/// protocol and of hostile input: frames go on the first bidirectional
/// stream with their length prefix (or without it, for bad framing), and
/// datagrams verbatim. Nothing is decoded for you beyond the JSON of
/// [`RawQuic::next_json`].
pub struct RawQuic {
    link: QuicLink,
}

impl std::fmt::Debug for RawQuic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQuic").field("link", &self.link).finish()
    }
}

impl RawQuic {
    /// Connects to `target` and opens the first stream.
    pub async fn connect(target: &QuicTarget) -> Result<RawQuic, ClientError> {
        Ok(RawQuic {
            link: QuicLink::open(target).await?,
        })
    }

    /// Sends `frame` on the stream with its 4-byte length prefix.
    pub async fn send_frame(&mut self, frame: &[u8]) -> Result<(), ClientError> {
        self.link.feed(Bytes::copy_from_slice(frame))?;
        Ok(self.link.flush().await?)
    }

    /// Writes `bytes` on the stream as they are (no prefix).
    pub async fn send_stream_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.link
            .send
            .write_all(bytes)
            .await
            .map_err(|e| ClientError::Io(io::Error::other(e)))
    }

    /// Sends one datagram.
    pub fn send_datagram(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.link.conn.send_datagram(bytes.into()).map_err(io_err)
    }

    /// The largest datagram the connection carries now.
    pub fn max_datagram_size(&self) -> Option<usize> {
        self.link.conn.max_datagram_size()
    }

    /// The next stream frame's bytes; `None` when the server finished the
    /// stream.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, ClientError> {
        Ok(self.link.next_frame().await?)
    }

    /// The next stream frame, decoded as a JSON server frame.
    pub async fn next_json(&mut self) -> Result<ServerFrame, ClientError> {
        self.link.read_json_reply().await
    }

    /// The next datagram.
    pub async fn next_datagram(&self) -> Result<Bytes, ClientError> {
        Ok(self.link.next_datagram().await?)
    }

    /// Waits until the connection is closed and returns the application
    /// close code the server gave (`None`: closed otherwise, e.g. timed out).
    pub async fn closed(&self) -> Option<u64> {
        match self.link.conn.closed().await {
            quinn::ConnectionError::ApplicationClosed(close) => Some(close.error_code.into_inner()),
            _ => None,
        }
    }

    /// Closes the connection with application code `code`.
    pub fn close(&self, code: u32) {
        self.link.conn.close(quinn::VarInt::from_u32(code), b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_any_case_with_separators() {
        let hex = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let pin = parse_pin(hex).expect("valid");
        assert_eq!(pin[0], 0xba);
        assert_eq!(parse_pin(&hex.to_lowercase()).expect("valid"), pin);
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(parse_pin(&colons.join(":")).expect("valid"), pin);
        assert!(parse_pin("abc").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn hosts_come_from_addresses() {
        assert_eq!(host_of("127.0.0.1:4434"), "127.0.0.1");
        assert_eq!(host_of("[::1]:4434"), "::1");
        assert_eq!(host_of("example.com:4434"), "example.com");
    }

    #[test]
    fn frames_split_and_limits_hold() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&3u32.to_be_bytes());
        buf.extend_from_slice(b"ab");
        assert_eq!(split_frame(&mut buf, 10).expect("ok"), None);
        buf.extend_from_slice(b"c");
        assert_eq!(
            split_frame(&mut buf, 10).expect("ok").as_deref(),
            Some(&b"abc"[..])
        );
        let mut big = BytesMut::from(&11u32.to_be_bytes()[..]);
        assert!(split_frame(&mut big, 10).is_err());
    }
}
