//! `session.attach` (PROTOCOL.md §8): a QUIC connection becomes the
//! unreliable path of a live WebSocket session.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arbiter_protocol::{Codec, ErrorCode, SessionId};
use arbiter_session::{Inbound, InboundOutcome};
use bytes::Bytes;

use crate::router::route;
use crate::runtime::{Runtime, unix_ms};
use crate::session::{Phase, Session};
use crate::transport::DatagramTx;

/// An attached datagram path. Dropping it detaches: the session's unreliable
/// frames go back to its reliable path.
pub struct Attached {
    rt: Arc<Runtime>,
    session: Arc<Session>,
    path: Arc<dyn DatagramTx>,
    codec: Codec,
    inbound: Mutex<Inbound>,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("session", &self.session.id)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Makes `datagrams` the unreliable path of the live session named by
    /// the pair. A wrong or unknown pair is `auth.invalid_token`; the caller
    /// answers with that error and closes its connection.
    pub fn attach(
        self: &Arc<Self>,
        session_id: &SessionId,
        resume_token: &str,
        datagrams: Arc<dyn DatagramTx>,
    ) -> Result<Attached, ErrorCode> {
        let session = self
            .sessions
            .find_any_project(session_id, resume_token)
            .filter(|s| s.conn().phase != Phase::Ended)
            .ok_or(ErrorCode::AuthInvalidToken)?;
        let codec = session.codec();
        session.set_datagram_path(datagrams.clone());
        let inbound = Inbound::new(
            codec,
            self.config.limits,
            &self.config.session,
            Instant::now(),
        );
        Ok(Attached {
            rt: self.clone(),
            session,
            path: datagrams,
            codec,
            inbound: Mutex::new(inbound),
        })
    }
}

impl Attached {
    /// The session's negotiated codec, which its datagrams use both ways.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The session this path belongs to.
    pub fn session_id(&self) -> &SessionId {
        &self.session.id
    }

    /// One inbound datagram: rate limited, decoded and routed like any frame
    /// of the session; errors go back over the session's reliable path.
    pub fn deliver(&self, datagram: Bytes) {
        let outcome = {
            let mut inbound = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
            inbound.handle(
                &datagram,
                !self.codec.is_binary(),
                Instant::now(),
                unix_ms(),
            )
        };
        match outcome {
            InboundOutcome::Frame(frame) => {
                self.rt
                    .metrics
                    .count_in(frame.msg.message_type(), datagram.len());
                let epoch = self.session.outbox.epoch();
                route(&self.rt, &self.session, epoch, frame);
            }
            InboundOutcome::Reply(frame) | InboundOutcome::ReplyAndClose(frame) => {
                self.session.send(frame);
            }
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.session.clear_datagram_path(&self.path);
    }
}
