//! Feeds arbitrary bytes to every decoder: the first-frame (handshake) decoder
//! and the client and server frame decoders in both codecs.
//!
//! Invariants checked beyond "no panic": decoding errors carry a code a decoder
//! may produce, and whatever decodes re-encodes and decodes back to the same
//! value.

#![no_main]

use arbiter_protocol::{Codec, ErrorCode, Limits, Opening, decode_opening};
use libfuzzer_sys::fuzz_target;

fn client_code(code: ErrorCode) -> bool {
    code.is_protocol()
        || matches!(
            code,
            ErrorCode::MatchmakingInvalid | ErrorCode::AuthInvalidToken
        )
}

fuzz_target!(|data: &[u8]| {
    let client_limits = Limits::default();
    // Re-encoded frames may grow (a float written as `1e2` comes back as `100.0`).
    let roomy = Limits::for_server_frames();
    let mut buf = Vec::new();

    match decode_opening(data, &client_limits) {
        Ok(Opening::Handshake(handshake)) => {
            buf.clear();
            handshake
                .encode(&mut buf)
                .expect("a decoded handshake encodes");
            let back = decode_opening(&buf, &roomy).expect("a re-encoded handshake decodes");
            assert_eq!(back, Opening::Handshake(handshake));
        }
        Ok(Opening::Attach { .. }) => {}
        Err(e) => assert!(client_code(e.code), "{e}"),
    }

    for codec in Codec::SUPPORTED {
        match codec.decode_client(data, &client_limits) {
            Ok(frame) => {
                buf.clear();
                codec
                    .encode_client(&frame, &mut buf)
                    .expect("a decoded frame encodes");
                let back = codec
                    .decode_client(&buf, &roomy)
                    .expect("a re-encoded frame decodes");
                assert_eq!(back, frame);
            }
            Err(e) => assert!(client_code(e.code), "{e}"),
        }
        match codec.decode_server(data, &roomy) {
            Ok(frame) => {
                buf.clear();
                codec
                    .encode_server(&frame, &mut buf)
                    .expect("a decoded frame encodes");
                let back = codec
                    .decode_server(&buf, &roomy)
                    .expect("a re-encoded frame decodes");
                assert_eq!(back, frame);
            }
            Err(e) => assert!(e.code.is_protocol(), "{e}"),
        }
    }
});
