//! QUIC stream framing (PROTOCOL.md §1): each frame is a 4-byte big-endian
//! length followed by the encoded frame. The splitting is sans-IO
//! ([`split_frame`]); [`FrameReader`] drives it over a quinn receive stream
//! and is cancel-safe (its buffer lives in the struct), so it can sit in a
//! `select!` beside the connection's datagrams.

use std::io;

use bytes::{Buf, Bytes, BytesMut};

/// Largest chunk read from the stream at once.
const READ_CHUNK: usize = 64 * 1024;

/// Splits one complete frame off the front of `buf`. `Ok(None)`: more bytes
/// are needed. A declared length over `limit` is an error (the caller closes
/// the connection).
pub fn split_frame(buf: &mut BytesMut, limit: usize) -> io::Result<Option<Bytes>> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is over the stream limit of {limit} bytes"),
        ));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The 4-byte big-endian length prefix of a frame of `len` bytes.
pub fn prefix(len: usize) -> io::Result<[u8; 4]> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 4 GiB"))
}

/// Reads length-prefixed frames from a QUIC receive stream.
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    buf: BytesMut,
    limit: usize,
}

/// What the stream gave.
#[derive(Debug)]
pub(crate) enum Read {
    /// One whole frame.
    Frame(Bytes),
    /// The peer finished the stream at a frame boundary.
    Finished,
}

impl FrameReader {
    /// Frames from `recv`, each at most `limit` bytes.
    pub(crate) fn new(recv: quinn::RecvStream, limit: usize) -> FrameReader {
        FrameReader {
            recv,
            buf: BytesMut::with_capacity(4096),
            limit,
        }
    }

    /// The next frame. Errors: the stream or connection failed, a length
    /// over the limit, or a stream that ends inside a frame. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Result<Read, ReadFailure> {
        loop {
            if let Some(frame) =
                split_frame(&mut self.buf, self.limit).map_err(ReadFailure::Framing)?
            {
                return Ok(Read::Frame(frame));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) if self.buf.is_empty() => return Ok(Read::Finished),
                Ok(None) => {
                    return Err(ReadFailure::Framing(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stream ended inside a frame",
                    )));
                }
                Err(e) => return Err(ReadFailure::Stream(e)),
            }
        }
    }
}

/// Why [`FrameReader::next`] failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Bad framing: a length over the limit, or a truncated frame.
    Framing(io::Error),
    /// The stream or its connection failed.
    Stream(quinn::ReadError),
}

impl ReadFailure {
    /// Whether the peer closed the whole connection cleanly (application
    /// close with code 0).
    pub(crate) fn is_clean_close(&self) -> bool {
        matches!(
            self,
            ReadFailure::Stream(quinn::ReadError::ConnectionLost(
                quinn::ConnectionError::ApplicationClosed(close)
            )) if close.error_code == quinn::VarInt::from_u32(0)
        )
    }

    /// As an `io::Error` for the runtime.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            ReadFailure::Framing(e) => e,
            ReadFailure::Stream(e) => io::Error::other(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(frames: &[&[u8]]) -> BytesMut {
        let mut buf = BytesMut::new();
        for f in frames {
            buf.extend_from_slice(&prefix(f.len()).expect("small"));
            buf.extend_from_slice(f);
        }
        buf
    }

    #[test]
    fn frames_split_at_their_lengths() {
        let mut buf = framed(&[b"{\"a\":1}", b"", b"xyz"]);
        assert_eq!(
            split_frame(&mut buf, 100).unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(
            split_frame(&mut buf, 100).unwrap().as_deref(),
            Some(&b""[..])
        );
        assert_eq!(
            split_frame(&mut buf, 100).unwrap().as_deref(),
            Some(&b"xyz"[..])
        );
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let whole = framed(&[b"hello"]);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(split_frame(&mut buf, 100).unwrap(), None, "cut at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(
                split_frame(&mut buf, 100).unwrap().as_deref(),
                Some(&b"hello"[..])
            );
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_reading_it() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let err = split_frame(&mut buf, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut buf = framed(&[&[0u8; 11]]);
        assert!(split_frame(&mut buf, 10).is_err());
        let mut buf = framed(&[&[0u8; 10]]);
        assert!(split_frame(&mut buf, 10).unwrap().is_some());
    }
}
