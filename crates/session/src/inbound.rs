//! The per-connection inbound pipeline after the handshake: rate limit →
//! transport/codec check → decode with [`Limits`] → `ping` answered locally.

use std::time::Instant;

use arbiter_protocol::{
    ClientFrame, ClientMessage, Codec, ErrorCode, Limits, Pong, Rid, ServerFrame,
};

use crate::config::SessionConfig;
use crate::error::error_frame;
use crate::rate::TokenBucket;

/// What to do with one inbound frame.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundOutcome {
    /// A valid frame to route (to a room, matchmaking, the session…).
    Frame(ClientFrame),
    /// Send this frame back (a `pong`, or an error); the connection stays open.
    Reply(ServerFrame),
    /// Send this error, then close the connection: the client has sent more
    /// malformed frames than `max_protocol_errors`.
    ReplyAndClose(ServerFrame),
}

/// Turns the raw frames of one established connection into
/// [`InboundOutcome`]s. One per connection; it holds the connection's rate
/// limit and its count of `protocol.*` errors.
///
/// Rules, in order:
/// 1. Over the rate limit: `error rate.limited`, frame dropped undecoded (no
///    rid). Not a protocol error.
/// 2. A WebSocket text frame on a MessagePack session, or binary on a JSON
///    session: `error protocol.bad_frame`.
/// 3. Decode failures: [`arbiter_protocol::DecodeError::to_reply`] (with the
///    frame's rid when it could be read).
/// 4. `ping`: `pong { ts, server_ts }`, echoing the ping's rid if it had one.
/// 5. `session.attach` (only valid as the first frame of a QUIC connection):
///    `error protocol.bad_frame`.
///
/// Every `protocol.*` reply counts; the one that takes the count past
/// `max_protocol_errors` is [`InboundOutcome::ReplyAndClose`]. The count is per
/// connection and never decays.
#[derive(Debug, Clone)]
pub struct Inbound {
    codec: Codec,
    limits: Limits,
    bucket: TokenBucket,
    rate_per_sec: u32,
    rate_burst: u32,
    max_protocol_errors: u32,
    protocol_errors: u32,
}

impl Inbound {
    /// A pipeline for a connection that negotiated `codec`, decoding with
    /// `limits` and applying `config`'s rate limit and error budget from `now`.
    pub fn new(codec: Codec, limits: Limits, config: &SessionConfig, now: Instant) -> Self {
        Inbound {
            codec,
            limits,
            bucket: TokenBucket::new(config.rate_per_sec, config.rate_burst, now),
            rate_per_sec: config.rate_per_sec,
            rate_burst: config.rate_burst,
            max_protocol_errors: config.max_protocol_errors,
            protocol_errors: 0,
        }
    }

    /// The connection's codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// How many `protocol.*` errors this connection has caused so far.
    pub fn protocol_errors(&self) -> u32 {
        self.protocol_errors
    }

    /// Handles one frame: `bytes` as received, `is_text` whether it came as a
    /// WebSocket text message (on a transport without that distinction, such
    /// as a QUIC stream, pass `!self.codec().is_binary()`), at `now` (rate
    /// limit) and `now_unix_ms` (for `pong`). Never panics, whatever the
    /// bytes.
    pub fn handle(
        &mut self,
        bytes: &[u8],
        is_text: bool,
        now: Instant,
        now_unix_ms: u64,
    ) -> InboundOutcome {
        if !self.bucket.try_take(now) {
            return InboundOutcome::Reply(error_frame(
                ErrorCode::RateLimited,
                format!(
                    "this session sends faster than {}/s (bursts of {}); the frame was dropped, slow down",
                    self.rate_per_sec, self.rate_burst
                ),
                None,
            ));
        }
        if is_text == self.codec.is_binary() {
            let (got, want) = if is_text {
                ("a text", "binary")
            } else {
                ("a binary", "text")
            };
            return self.protocol_error(
                ErrorCode::BadFrame,
                format!(
                    "this session negotiated {}: send {want} frames, not {got} frame",
                    self.codec
                ),
                None,
            );
        }
        let frame = match self.codec.decode_client(bytes, &self.limits) {
            Ok(frame) => frame,
            Err(err) if err.code.is_protocol() => {
                return self.count(err.to_reply(), &err.reason);
            }
            Err(err) => return InboundOutcome::Reply(err.to_reply()),
        };
        match frame.msg {
            ClientMessage::Ping(ping) => InboundOutcome::Reply(
                ServerFrame::new(Pong {
                    ts: ping.ts,
                    server_ts: now_unix_ms,
                })
                .with_rid(frame.rid),
            ),
            ClientMessage::SessionAttach(_) => self.protocol_error(
                ErrorCode::BadFrame,
                "session.attach is only accepted as the first frame of a QUIC connection; this session is already established".to_owned(),
                frame.rid,
            ),
            _ => InboundOutcome::Frame(frame),
        }
    }

    fn protocol_error(
        &mut self,
        code: ErrorCode,
        reason: String,
        rid: Option<Rid>,
    ) -> InboundOutcome {
        let reply = error_frame(code, reason.clone(), rid);
        self.count(reply, &reason)
    }

    /// Counts a `protocol.*` reply and decides whether to close.
    fn count(&mut self, mut reply: ServerFrame, reason: &str) -> InboundOutcome {
        self.protocol_errors = self.protocol_errors.saturating_add(1);
        if self.protocol_errors <= self.max_protocol_errors {
            return InboundOutcome::Reply(reply);
        }
        if let arbiter_protocol::ServerMessage::Error(payload) = &mut reply.msg {
            payload.reason = format!(
                "{reason}; closing the connection after {} malformed frames",
                self.protocol_errors
            );
        }
        InboundOutcome::ReplyAndClose(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::ServerMessage;

    fn code(outcome: &InboundOutcome) -> Option<ErrorCode> {
        match outcome {
            InboundOutcome::Reply(f) | InboundOutcome::ReplyAndClose(f) => match &f.msg {
                ServerMessage::Error(e) => Some(e.code),
                _ => None,
            },
            InboundOutcome::Frame(_) => None,
        }
    }

    #[test]
    fn rate_limited_frames_are_not_protocol_errors() {
        let now = Instant::now();
        let config = SessionConfig {
            rate_per_sec: 1,
            rate_burst: 1,
            ..SessionConfig::default()
        };
        let mut inbound = Inbound::new(Codec::Json, Limits::default(), &config, now);
        let ping = br#"{"v":1,"t":"ping","p":{}}"#;
        assert!(matches!(
            inbound.handle(ping, true, now, 0),
            InboundOutcome::Reply(ServerFrame {
                msg: ServerMessage::Pong(_),
                ..
            })
        ));
        let limited = inbound.handle(ping, true, now, 0);
        assert_eq!(code(&limited), Some(ErrorCode::RateLimited));
        assert_eq!(inbound.protocol_errors(), 0);
    }

    #[test]
    fn the_close_reason_says_why() {
        let now = Instant::now();
        let config = SessionConfig {
            max_protocol_errors: 0,
            ..SessionConfig::default()
        };
        let mut inbound = Inbound::new(Codec::Json, Limits::default(), &config, now);
        match inbound.handle(b"{", true, now, 0) {
            InboundOutcome::ReplyAndClose(ServerFrame {
                msg: ServerMessage::Error(e),
                ..
            }) => {
                assert_eq!(e.code, ErrorCode::BadFrame);
                assert!(e.reason.contains("closing the connection"), "{}", e.reason);
            }
            other => panic!("expected a close, got {other:?}"),
        }
    }
}
