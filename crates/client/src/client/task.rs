//! The background task that owns the connection: reads and routes server
//! frames and datagrams, writes the handle's commands (unreliable ones as
//! datagrams when a QUIC path exists), pings, and reconnects to resume.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbiter_protocol::{Codec, HandshakeOk, Limits, Ping, Rid};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, warn};

use super::conn::{self, Resume};
use super::link::{In, Link, Out};
use super::quic::QuicLink;
use super::{Reply, SessionInfo, Shared, encode};
use crate::config::ClientConfig;
use crate::core::Output;
use crate::error::ClientError;
use crate::event::Event;

/// Commands a handle sends to the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// An encoded frame to write.
    Send(Out),
    /// An encoded frame with unreliable intent: a datagram when a QUIC path
    /// exists and it fits, else like `Send`.
    Unreliable(Out),
    /// An encoded request frame; its rid is marked sent once written.
    Request(Rid, Out),
    /// Make this attached QUIC connection the session's datagram path, then
    /// acknowledge.
    Attach(Box<QuicLink>, oneshot::Sender<()>),
    /// Close cleanly, then acknowledge.
    Close(oneshot::Sender<()>),
    /// Drop the TCP connection abruptly (no close frame), then acknowledge.
    DropTransport(oneshot::Sender<()>),
}

/// How one connection ended.
enum End {
    /// Closed on purpose (by `close()` or because every handle is gone).
    Closed,
    /// The transport failed or the server closed it.
    Lost(String),
    /// `drop_transport()`: acknowledge once the socket is gone.
    Dropped(oneshot::Sender<()>),
}

/// At most this many queued commands are written before one flush.
const WRITE_BATCH: usize = 64;

/// The task's state.
pub(crate) struct Task {
    pub(crate) config: ClientConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) version: watch::Sender<u64>,
    /// Commands received while reconnecting, written once connected.
    pub(crate) backlog: VecDeque<Command>,
    /// A QUIC connection attached to a WebSocket session (its datagrams).
    pub(crate) attachment: Option<Box<QuicLink>>,
}

impl Task {
    /// Serves `link`, then every resumed connection, until closed or resume
    /// fails.
    pub(crate) async fn run(mut self, mut link: Link) {
        loop {
            let reason = match self.serve(link).await {
                End::Closed => break,
                End::Lost(reason) => reason,
                End::Dropped(ack) => {
                    let _ = ack.send(());
                    "the client dropped the transport".to_owned()
                }
            };
            debug!(reason, "transport lost");
            let mut out = Vec::new();
            self.shared.core().on_transport_lost(&mut out);
            self.emit(out);
            self.event(Event::Disconnected { reason });
            if !self.config.auto_resume {
                break;
            }
            match self.reconnect().await {
                Some(next) => link = next,
                None => break,
            }
        }
        if let Some(mut attachment) = self.attachment.take() {
            attachment.close().await;
        }
        let mut out = Vec::new();
        self.shared.core().close(&mut out);
        self.emit(out);
    }

    /// Drives one connection until it ends.
    async fn serve(&mut self, mut link: Link) -> End {
        let heartbeat_ms = self.shared.session().heartbeat_ms;
        let mut ping = self.config.heartbeat.interval(heartbeat_ms).map(|every| {
            let mut ping = tokio::time::interval_at(Instant::now() + every, every);
            ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ping
        });
        while let Some(command) = self.backlog.pop_front() {
            if let Some(end) = self.command(&mut link, command).await {
                return end;
            }
        }
        if let Err(e) = link.flush().await {
            return End::Lost(e);
        }
        loop {
            let binary = self.codec().is_binary();
            let end = tokio::select! {
                incoming = link.next(binary) => self.incoming(&mut link, incoming).await,
                datagram = attached_datagram(self.attachment.as_deref()) => match datagram {
                    Ok(bytes) => self.incoming(&mut link, In::Datagram(bytes)).await,
                    Err(e) => {
                        debug!(error = %e, "the attached QUIC connection closed");
                        self.attachment = None;
                        None
                    }
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.commands_batch(&mut link, command).await,
                    None => {
                        link.close_cleanly().await;
                        Some(End::Closed)
                    }
                },
                () = tick(&mut ping) => self.ping(&mut link).await,
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Writes `first` and up to [`WRITE_BATCH`] more queued commands, then
    /// flushes once.
    async fn commands_batch(&mut self, link: &mut Link, first: Command) -> Option<End> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(command) = next.take() {
            if let Some(end) = self.command(link, command).await {
                return Some(end);
            }
            written += 1;
            if written < WRITE_BATCH {
                next = self.commands.try_recv().ok();
            }
        }
        link.flush().await.err().map(End::Lost)
    }

    /// Handles one command (writes are fed, not flushed).
    async fn command(&mut self, link: &mut Link, command: Command) -> Option<End> {
        let fed = match command {
            Command::Send(out) => link.feed(out).await,
            Command::Unreliable(out) => match self.try_datagram(link, out) {
                None => Ok(()),
                Some(out) => link.feed(out).await,
            },
            Command::Request(rid, out) => {
                // Marked first: if the write fails midway, the server may have
                // read it, so the outcome is unknown (ConnectionLost).
                self.shared.core().mark_sent(&rid);
                link.feed(out).await
            }
            Command::Attach(attachment, ack) => {
                if let Some(mut old) = self.attachment.replace(attachment) {
                    old.close().await;
                }
                let _ = ack.send(());
                Ok(())
            }
            Command::Close(ack) => {
                link.close_cleanly().await;
                let _ = ack.send(());
                return Some(End::Closed);
            }
            Command::DropTransport(ack) => {
                link.drop_abruptly();
                return Some(End::Dropped(ack));
            }
        };
        fed.err().map(End::Lost)
    }

    /// Sends `out` as a datagram when the session has a datagram path and it
    /// fits; gives it back to go over the reliable path otherwise.
    fn try_datagram(&self, link: &Link, out: Out) -> Option<Out> {
        let stats = &self.shared.datagrams;
        let conn = link
            .datagrams()
            .or_else(|| self.attachment.as_ref().map(|a| &a.conn));
        let fits = |c: &&quinn::Connection| {
            c.max_datagram_size()
                .is_some_and(|max| out.bytes.len() <= max)
        };
        let Some(conn) = conn.filter(fits) else {
            stats.over_stream.fetch_add(1, Relaxed);
            return Some(out);
        };
        let n = stats.attempts.fetch_add(1, Relaxed) + 1;
        let every = u64::from(self.config.datagram_drop_every);
        if every > 0 && n.is_multiple_of(every) {
            stats.dropped.fetch_add(1, Relaxed);
            return None;
        }
        match conn.send_datagram(out.bytes.clone()) {
            Ok(()) => {
                stats.sent.fetch_add(1, Relaxed);
                None
            }
            Err(e) => {
                debug!(error = %e, "datagram not sent; using the reliable path");
                stats.over_stream.fetch_add(1, Relaxed);
                Some(out)
            }
        }
    }

    async fn ping(&mut self, link: &mut Link) -> Option<End> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let ping = arbiter_protocol::ClientFrame::new(Ping {
            ts: Some(now_ms.into()),
        });
        match encode(self.codec(), &ping) {
            Ok(out) => {
                if let Err(e) = link.feed(out).await {
                    return Some(End::Lost(e));
                }
                link.flush().await.err().map(End::Lost)
            }
            Err(e) => {
                warn!(error = %e, "cannot encode ping");
                None
            }
        }
    }

    fn codec(&self) -> Codec {
        self.shared.session().codec
    }

    /// Decodes and routes one received frame or datagram.
    async fn incoming(&mut self, link: &mut Link, incoming: In) -> Option<End> {
        let codec = self.codec();
        let limits = Limits::for_server_frames();
        let decoded = match incoming {
            In::Frame(bytes, text) if text == (codec == Codec::Json) => {
                codec.decode_server(&bytes, &limits)
            }
            In::Frame(..) => {
                let reason = format!("a frame of the wrong WebSocket kind for codec {codec}");
                self.event(Event::InvalidFrame { reason });
                return None;
            }
            In::Datagram(bytes) => {
                self.shared.datagrams.received.fetch_add(1, Relaxed);
                codec.decode_server(&bytes, &limits)
            }
            In::Nothing => return None,
            In::Lost(reason) => return Some(End::Lost(reason)),
        };
        let frame = match decoded {
            Ok(frame) => frame,
            Err(e) => {
                self.event(Event::InvalidFrame {
                    reason: e.to_string(),
                });
                return None;
            }
        };
        let mut out = Vec::new();
        let version = {
            let mut core = self.shared.core();
            core.on_frame(frame, &mut out);
            core.version()
        };
        self.version.send_if_modified(|v| {
            let changed = *v != version;
            *v = version;
            changed
        });
        let mut fed = false;
        for output in out {
            match output {
                Output::Send(frame) => match encode(codec, &frame) {
                    Ok(out) => {
                        if let Err(e) = link.feed(out).await {
                            return Some(End::Lost(e));
                        }
                        fed = true;
                    }
                    Err(e) => warn!(error = %e, "cannot encode a state frame"),
                },
                Output::Event(event) => self.event(event),
                Output::Reply(reply, result) => {
                    let _ = reply.send(result);
                }
            }
        }
        if fed && let Err(e) = link.flush().await {
            return Some(End::Lost(e));
        }
        None
    }

    /// Completes replies and pushes events (outputs without frames to send).
    fn emit(&self, out: Vec<Output<Reply>>) {
        for output in out {
            match output {
                Output::Reply(reply, result) => {
                    let _ = reply.send(result);
                }
                Output::Event(event) => self.event(event),
                Output::Send(_) => {}
            }
        }
    }

    fn event(&self, event: Event) {
        // The receiver is gone only when the client handle is; nothing to do.
        let _ = self.events.send(event);
    }

    /// Reconnects and resumes within `resume_window`, with exponential backoff.
    /// `None`: closed meanwhile, or resume failed (reported as an event).
    async fn reconnect(&mut self) -> Option<Link> {
        let deadline = Instant::now() + self.config.resume_window;
        let mut delay = Duration::from_millis(50);
        loop {
            let info = self.shared.session().clone();
            let resume = Resume {
                session_id: info.session_id,
                resume_token: info.resume_token,
            };
            let config = self.config.clone();
            let attempt = async move {
                let until = deadline.min(Instant::now() + config.connect_timeout);
                match tokio::time::timeout_at(until, conn::open(&config, Some(resume))).await {
                    Ok(result) => result,
                    Err(_) => Err(ClientError::Timeout),
                }
            };
            let error = match self.while_reconnecting(attempt).await? {
                Ok((link, ok)) => {
                    self.adopt(ok);
                    return Some(link);
                }
                Err(e) => e,
            };
            let retriable = matches!(
                error,
                ClientError::Io(_) | ClientError::Timeout | ClientError::Closed
            ) || error.code()
                == Some(arbiter_protocol::ErrorCode::ServerOverloaded);
            if !retriable || Instant::now() + delay >= deadline {
                warn!(error = %error, "resume failed; the client is closed");
                self.event(Event::Disconnected {
                    reason: format!("resume failed: {error}"),
                });
                return None;
            }
            debug!(error = %error, ?delay, "resume attempt failed; retrying");
            self.while_reconnecting(tokio::time::sleep(delay)).await?;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Awaits `fut` while keeping the command queue moving: `close()` (or the
    /// last handle going away) aborts with `None`, other commands wait in the
    /// backlog.
    async fn while_reconnecting<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                value = &mut fut => return Some(value),
                command = self.commands.recv() => match command {
                    None => return None,
                    Some(Command::Close(ack)) => {
                        let _ = ack.send(());
                        return None;
                    }
                    Some(Command::DropTransport(ack)) => {
                        let _ = ack.send(());
                    }
                    Some(Command::Attach(attachment, ack)) => {
                        self.attachment = Some(attachment);
                        let _ = ack.send(());
                    }
                    Some(other) => self.backlog.push_back(other),
                },
            }
        }
    }

    /// Takes the new connection's session details and reports the outcome.
    fn adopt(&mut self, ok: HandshakeOk) {
        let resumed = ok.resumed;
        let session_id = ok.session_id.clone();
        *self.shared.session() = SessionInfo::from(ok);
        if resumed {
            self.event(Event::Resumed);
        } else {
            let version = {
                let mut core = self.shared.core();
                core.on_session_lost();
                core.version()
            };
            self.version.send_replace(version);
            self.event(Event::SessionLost { session_id });
        }
    }
}

/// Waits for the next ping tick, or forever when pings are off.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The next datagram of the attached QUIC connection, or never.
async fn attached_datagram(attachment: Option<&QuicLink>) -> std::io::Result<bytes::Bytes> {
    match attachment {
        Some(quic) => quic.next_datagram().await,
        None => std::future::pending().await,
    }
}
