//! A server frame shared by many recipients and encoded at most once per codec.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec::Codec;
use crate::error::EncodeError;
use crate::server::ServerFrame;

/// A [`ServerFrame`] sent to many sessions (a room's patch, a broadcast
/// message): each codec's encoding is computed the first time a recipient of
/// that codec needs it and then shared as [`Bytes`], so fan-out to N members
/// costs one encode per codec, not N.
#[derive(Debug)]
pub struct SharedFrame {
    frame: ServerFrame,
    json: OnceLock<Bytes>,
    msgpack: OnceLock<Bytes>,
}

impl SharedFrame {
    /// Wraps a frame for sharing.
    pub fn new(frame: ServerFrame) -> Arc<SharedFrame> {
        Arc::new(SharedFrame {
            frame,
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
        })
    }

    /// The frame.
    pub fn frame(&self) -> &ServerFrame {
        &self.frame
    }

    /// The frame in `codec`, encoded on first use and cached. Two threads
    /// racing on the first use may both encode; one result is kept.
    pub fn encoded(&self, codec: Codec) -> Result<Bytes, EncodeError> {
        let cell = match codec {
            Codec::Json => &self.json,
            Codec::MsgPack => &self.msgpack,
        };
        if let Some(bytes) = cell.get() {
            return Ok(bytes.clone());
        }
        // Encoded into a reused per-thread buffer, then copied once into an
        // exact-size allocation: no growth reallocations per encode, and a
        // frame kept for replay holds no spare capacity.
        let bytes = SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            let result = codec.encode_server(&self.frame, buf);
            let bytes = result.map(|()| Bytes::copy_from_slice(buf));
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::with_capacity(SCRATCH_KEEP);
            }
            bytes
        })?;
        Ok(cell.get_or_init(|| bytes).clone())
    }
}

/// Scratch capacity a thread keeps between encodes (a larger frame's buffer
/// is released after use).
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Pong};

    #[test]
    fn encodes_once_per_codec_and_round_trips() {
        let shared = SharedFrame::new(ServerFrame::new(Pong {
            ts: Some(5.into()),
            server_ts: 7,
        }));
        let a = shared.encoded(Codec::MsgPack).unwrap();
        let b = shared.encoded(Codec::MsgPack).unwrap();
        // The same allocation: the second call did not encode again.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let json = shared.encoded(Codec::Json).unwrap();
        assert_ne!(a, json);
        for (codec, bytes) in [(Codec::MsgPack, a), (Codec::Json, json)] {
            let back = codec
                .decode_server(&bytes, &Limits::for_server_frames())
                .unwrap();
            assert_eq!(&back, shared.frame());
        }
    }
}
