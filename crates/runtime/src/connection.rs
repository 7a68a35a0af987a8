//! One transport connection: the handshake, then one loop that feeds the
//! session's inbound pipeline, routes frames, and drains the session's
//! outbox into the transport.

use std::sync::Arc;
use std::time::Duration;

use arbiter_protocol::{Codec, ErrorCode, HandshakeOk, MessageType, ServerFrame};
use arbiter_session::{Accepted, Inbound, InboundOutcome, Liveness};
use tokio::time::Instant;

use crate::outbox::{Batch, Item};
use crate::room_actor::is_patch;
use crate::router::route;
use crate::runtime::{Runtime, unix_ms};
use crate::session::Session;
use crate::transport::{DatagramTx, FrameRx, FrameTx, InFrame};

/// How long a new connection has to send its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection may take to write its last frames.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Why a connection's reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The transport failed or closed without a close frame.
    Dropped,
    /// The client closed cleanly: the session ends.
    ClientClosed,
    /// No traffic for two heartbeats.
    Heartbeat,
    /// The outbox overflowed (slow reader).
    Overflow,
    /// Too many malformed frames: the session ends after the error is written.
    ProtocolClose,
    /// Another transport resumed the session.
    TakenOver,
    /// Writing to the transport failed.
    WriterFailed,
}

/// Serves one connection until it ends. `transport` labels the metrics.
pub async fn serve_connection<R: FrameRx, T: FrameTx>(
    rt: Arc<Runtime>,
    transport: &'static str,
    rx: R,
    tx: T,
) {
    serve(rt, transport, rx, tx, None).await;
}

/// Serves a connection that also carries datagrams (a QUIC-only session):
/// `datagrams` becomes the session's unreliable path while the connection
/// lasts, and `rx` yields the connection's datagrams as
/// [`InFrame::Datagram`].
pub async fn serve_connection_with_datagrams<R: FrameRx, T: FrameTx>(
    rt: Arc<Runtime>,
    transport: &'static str,
    rx: R,
    tx: T,
    datagrams: Arc<dyn DatagramTx>,
) {
    serve(rt, transport, rx, tx, Some(datagrams)).await;
}

async fn serve<R: FrameRx, T: FrameTx>(
    rt: Arc<Runtime>,
    transport: &'static str,
    mut rx: R,
    mut tx: T,
    datagrams: Option<Arc<dyn DatagramTx>>,
) {
    let m = &rt.metrics;
    m.connections.with_label_values(&[transport]).inc();
    m.connections_total.with_label_values(&[transport]).inc();
    // Boxed: the handshake's state is freed once done instead of sizing the
    // connection's task for its whole life.
    if let Some((session, accepted, generation)) = Box::pin(open(&rt, &mut rx, &mut tx)).await {
        let codec = accepted.codec;
        let epoch = session.outbox.reopen();
        if let Some(path) = &datagrams {
            session.set_datagram_path(path.clone());
        }
        // Boxed, and `accepted` consumed here: what only the handshake needs
        // does not stay in the connection's task for its whole life.
        let greeted = Box::pin(greet(&rt, &session, accepted, generation, &mut tx)).await;
        if greeted {
            if generation > 1 {
                crate::lifecycle::resume_rooms(&session, epoch);
            }
            let link = Link {
                rt: &rt,
                session: &session,
                generation,
                epoch,
                codec,
            };
            let end = drive(link, &mut rx, &mut tx).await;
            crate::lifecycle::after_connection(&rt, &session, generation, end_label(end));
        } else {
            crate::lifecycle::after_connection(&rt, &session, generation, Some("transport_closed"));
        }
        if let Some(path) = &datagrams {
            session.clear_datagram_path(path);
        }
    }
    m.connections.with_label_values(&[transport]).dec();
}

/// Sends `handshake.ok`; false when the transport failed.
async fn greet<T: FrameTx>(
    rt: &Runtime,
    session: &Session,
    accepted: Accepted,
    generation: u64,
    tx: &mut T,
) -> bool {
    let ok = HandshakeOk {
        codec: accepted.codec,
        session_id: session.id.clone(),
        resume_token: session.resume_token.clone(),
        resumed: generation > 1,
        heartbeat_ms: u32::try_from(rt.config.session.heartbeat.as_millis()).unwrap_or(u32::MAX),
        quic: rt.config.quic.clone(),
    };
    let frame = ServerFrame::new(ok).with_rid(accepted.rid);
    send_json(tx, &frame).await.is_ok()
}

/// `None`: the session ends; else the suspension reason (metrics label).
fn end_label(end: End) -> Option<&'static str> {
    match end {
        End::ClientClosed | End::ProtocolClose => None,
        End::TakenOver => Some(""),
        End::Heartbeat => Some("heartbeat"),
        End::Overflow => Some("overflow"),
        End::Dropped | End::WriterFailed => Some("transport_closed"),
    }
}

/// Reads and checks the handshake, and creates or resumes the session.
async fn open<R: FrameRx, T: FrameTx>(
    rt: &Arc<Runtime>,
    rx: &mut R,
    tx: &mut T,
) -> Option<(Arc<Session>, Accepted, u64)> {
    // WebSocket pings before the handshake are keepalives, not frames.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match rx.recv().await {
                Some(Ok(InFrame::Ping)) => continue,
                other => return other,
            }
        }
    })
    .await;
    let bytes = match first {
        Ok(Some(Ok(InFrame::Text(b) | InFrame::Binary(b)))) => b,
        Ok(_) => return None,
        Err(_) => {
            let frame = error(
                ErrorCode::HandshakeRequired,
                "no handshake within 10 s; the first frame must be the JSON handshake",
            );
            reject(rt, tx, &frame, ErrorCode::HandshakeRequired).await;
            return None;
        }
    };
    let accepted = match arbiter_session::accept_handshake(&bytes, &rt.verifier, unix_ms() / 1000) {
        Ok(a) => a,
        Err(rejected) => {
            tracing::debug!(%rejected, "handshake refused");
            reject(rt, tx, &rejected.reply, rejected.code).await;
            return None;
        }
    };
    if rt.is_draining() {
        let frame = error(
            ErrorCode::ServerDraining,
            "the server is shutting down; connect to another node or retry shortly",
        )
        .with_rid(accepted.rid.clone());
        reject(rt, tx, &frame, ErrorCode::ServerDraining).await;
        return None;
    }
    let (session, generation) = crate::lifecycle::open_session(rt, &accepted);
    Some((session, accepted, generation))
}

fn error(code: ErrorCode, reason: &str) -> ServerFrame {
    ServerFrame::new(arbiter_protocol::ErrorPayload {
        code,
        reason: reason.to_owned(),
    })
}

async fn reject<T: FrameTx>(rt: &Runtime, tx: &mut T, frame: &ServerFrame, code: ErrorCode) {
    rt.metrics
        .handshakes_total
        .with_label_values(&["rejected"])
        .inc();
    rt.metrics
        .errors_sent_total
        .with_label_values(&[code.as_str()])
        .inc();
    let _ = send_json(tx, frame).await;
    tx.close().await;
}

async fn send_json<T: FrameTx>(tx: &mut T, frame: &ServerFrame) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(256);
    Codec::Json
        .encode_server(frame, &mut buf)
        .map_err(std::io::Error::other)?;
    tx.send(buf.into(), true).await?;
    tx.flush().await
}

/// What the connection's loop works for.
struct Link<'a> {
    rt: &'a Arc<Runtime>,
    session: &'a Arc<Session>,
    generation: u64,
    epoch: u64,
    codec: Codec,
}

/// One task per connection, as the floor has: it reads frames and routes
/// them, and drains the session's outbox into the transport, one flush per
/// batch. (A separate writer task cost a task, a lock shared by the two
/// halves of the socket and 0.7 KiB per connection.) While a batch is being
/// written nothing is read; a write that cannot finish (a client that stops
/// reading) still yields to a takeover and to the heartbeat.
async fn drive<R: FrameRx, T: FrameTx>(link: Link<'_>, rx: &mut R, tx: &mut T) -> End {
    let Link {
        rt,
        session,
        generation,
        epoch,
        codec,
    } = link;
    let config = &rt.config.session;
    let now = Instant::now();
    let mut inbound = Inbound::new(codec, rt.config.limits, config, now.into_std());
    let mut liveness = Liveness::new(config.heartbeat, now.into_std());
    let writer = Writer::new(rt, codec);
    // Long-lived futures, polled again rather than rebuilt for every frame: a
    // fresh timer or watch registration per frame was measurable at
    // arena-move rates. The heartbeat timer is moved on only when it fires.
    let mut generations = session.generation.subscribe();
    let taken_over = async move {
        loop {
            if generations.changed().await.is_err()
                || *generations.borrow_and_update() != generation
            {
                return;
            }
        }
    };
    tokio::pin!(taken_over);
    let heartbeat = tokio::time::sleep_until(Instant::from_std(liveness.deadline()));
    tokio::pin!(heartbeat);
    let mut batch: Vec<Item> = Vec::with_capacity(4);
    'conn: loop {
        let event = tokio::select! {
            // Frames first: when one is waiting, nothing else is polled.
            biased;
            frame = rx.recv() => Event::Frame(frame),
            next = session.outbox.next_batch(epoch, &mut batch) => Event::Batch(next),
            () = &mut taken_over => break End::TakenOver,
            () = &mut heartbeat => Event::Heartbeat,
        };
        match event {
            Event::Frame(frame) => {
                let (bytes, text) = match frame {
                    None | Some(Err(_)) => break End::Dropped,
                    Some(Ok(InFrame::Close)) => break End::ClientClosed,
                    Some(Ok(InFrame::Ping)) => {
                        liveness.on_traffic(std::time::Instant::now());
                        continue;
                    }
                    Some(Ok(InFrame::Text(b))) => (b, true),
                    Some(Ok(InFrame::Binary(b))) => (b, false),
                    Some(Ok(InFrame::Datagram(b))) => (b, !codec.is_binary()),
                };
                let now = std::time::Instant::now();
                liveness.on_traffic(now);
                match inbound.handle(&bytes, text, now, unix_ms()) {
                    InboundOutcome::Frame(frame) => {
                        rt.metrics.count_in(frame.msg.message_type(), bytes.len());
                        route(rt, session, epoch, frame);
                    }
                    InboundOutcome::Reply(frame) => {
                        count_in_reply(rt, &frame, bytes.len());
                        session.send(frame);
                    }
                    InboundOutcome::ReplyAndClose(frame) => {
                        count_in_reply(rt, &frame, bytes.len());
                        session.send(frame);
                        session.outbox.close_when_flushed();
                        let last = writer.drain(session, epoch, tx, &mut batch);
                        let _ = tokio::time::timeout(CLOSE_FLUSH, last).await;
                        break End::ProtocolClose;
                    }
                }
            }
            Event::Batch(Batch::Items) => {
                let write = writer.write(tx, &mut batch);
                tokio::pin!(write);
                let written = loop {
                    tokio::select! {
                        biased;
                        written = &mut write => break written,
                        () = &mut taken_over => break 'conn End::TakenOver,
                        () = &mut heartbeat => if silent(&liveness, heartbeat.as_mut()) {
                            break 'conn End::Heartbeat;
                        }
                    }
                };
                if written.is_err() {
                    break End::WriterFailed;
                }
            }
            Event::Batch(end) => {
                let _ = tx.flush().await;
                tx.close().await;
                break match end {
                    Batch::Overflow => End::Overflow,
                    Batch::Closed => End::ProtocolClose,
                    Batch::Items | Batch::Stale => End::TakenOver,
                };
            }
            Event::Heartbeat => {
                if silent(&liveness, heartbeat.as_mut()) {
                    break End::Heartbeat;
                }
            }
        }
    }
}

/// The heartbeat timer fired: true when the connection really was silent
/// for two heartbeats; else the timer moves on to the current deadline.
fn silent(liveness: &Liveness, timer: std::pin::Pin<&mut tokio::time::Sleep>) -> bool {
    if liveness.is_expired(std::time::Instant::now()) {
        return true;
    }
    timer.reset(Instant::from_std(liveness.deadline()));
    false
}

/// What woke the connection's loop.
enum Event {
    Frame(Option<std::io::Result<InFrame>>),
    Batch(Batch),
    Heartbeat,
}

/// Writes outbox batches to the transport, with the per-frame metrics.
struct Writer<'a> {
    rt: &'a Runtime,
    codec: Codec,
    patch_bytes: prometheus::Histogram,
}

impl<'a> Writer<'a> {
    fn new(rt: &'a Runtime, codec: Codec) -> Writer<'a> {
        let patch_bytes = rt.metrics.patch_bytes.with_label_values(&[codec.as_str()]);
        Writer {
            rt,
            codec,
            patch_bytes,
        }
    }

    /// Writes every frame of `batch` and flushes once.
    async fn write<T: FrameTx>(&self, tx: &mut T, batch: &mut Vec<Item>) -> std::io::Result<()> {
        let m = &self.rt.metrics;
        let text = !self.codec.is_binary();
        for item in batch.drain(..) {
            let frame = item.frame.frame();
            let bytes = match item.frame.encoded(self.codec) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a server frame; skipped");
                    continue;
                }
            };
            m.count_out(frame.msg.message_type(), bytes.len());
            if is_patch(frame) {
                self.patch_bytes.observe(bytes.len() as f64);
            }
            if let Some(code) = error_code(frame) {
                m.errors_sent_total.with_label_values(&[code]).inc();
            }
            tx.send(bytes, text).await?;
        }
        tx.flush().await
    }

    /// Writes what is still queued until the outbox says the connection is
    /// to close, then closes it (after a fatal protocol error).
    async fn drain<T: FrameTx>(
        &self,
        session: &Session,
        epoch: u64,
        tx: &mut T,
        batch: &mut Vec<Item>,
    ) {
        while session.outbox.next_batch(epoch, batch).await == Batch::Items {
            if self.write(tx, batch).await.is_err() {
                return;
            }
        }
        let _ = tx.flush().await;
        tx.close().await;
    }
}

/// Metrics for a frame answered by the inbound pipeline itself (a pong, or
/// an error for a frame that could not be routed).
fn count_in_reply(rt: &Runtime, reply: &ServerFrame, len: usize) {
    if let arbiter_protocol::ServerMessage::Pong(_) = &reply.msg {
        rt.metrics.count_in(MessageType::Ping, len);
        return;
    }
    rt.metrics
        .frames_in_total
        .with_label_values(&["invalid"])
        .inc();
    rt.metrics
        .bytes_in_total
        .with_label_values(&["invalid"])
        .inc_by(len as u64);
}

/// The wire code of an `error` or a failed `rpc.response` (for metrics).
fn error_code(frame: &ServerFrame) -> Option<&'static str> {
    use arbiter_protocol::{RpcResponse, ServerMessage};
    match &frame.msg {
        ServerMessage::Error(e) => Some(e.code.as_str()),
        ServerMessage::RpcResponse(RpcResponse::Err { code, .. }) => Some(code.as_str()),
        _ => None,
    }
}
