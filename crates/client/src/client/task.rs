//! The background task that owns the socket: reads and routes server frames,
//! writes the handle's commands, pings, and reconnects to resume.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbiter_protocol::{Codec, HandshakeOk, Limits, Ping, Rid};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use super::conn::{self, Resume, Ws};
use super::{Reply, SessionInfo, Shared, encode};
use crate::config::ClientConfig;
use crate::core::Output;
use crate::error::ClientError;
use crate::event::Event;

/// Commands a handle sends to the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// An encoded frame to write.
    Send(Message),
    /// An encoded request frame; its rid is marked sent once written.
    Request(Rid, Message),
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
}

impl Task {
    /// Serves `ws`, then every resumed connection, until closed or resume fails.
    pub(crate) async fn run(mut self, mut ws: Ws) {
        loop {
            let reason = match self.serve(ws).await {
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
                Some(next) => ws = next,
                None => break,
            }
        }
        let mut out = Vec::new();
        self.shared.core().close(&mut out);
        self.emit(out);
    }

    /// Drives one connection until it ends.
    async fn serve(&mut self, mut ws: Ws) -> End {
        let heartbeat_ms = self.shared.session().heartbeat_ms;
        let mut ping = self.config.heartbeat.interval(heartbeat_ms).map(|every| {
            let mut ping = tokio::time::interval_at(Instant::now() + every, every);
            ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ping
        });
        while let Some(command) = self.backlog.pop_front() {
            if let Some(end) = self.command(&mut ws, command).await {
                return end;
            }
        }
        if let Err(e) = ws.flush().await {
            return End::Lost(e.to_string());
        }
        loop {
            let end = tokio::select! {
                incoming = ws.next() => match incoming {
                    Some(Ok(message)) => self.incoming(&mut ws, message).await,
                    Some(Err(e)) => Some(End::Lost(e.to_string())),
                    None => Some(End::Lost("the server closed the connection".into())),
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.commands_batch(&mut ws, command).await,
                    None => {
                        close_cleanly(&mut ws).await;
                        Some(End::Closed)
                    }
                },
                () = tick(&mut ping) => self.ping(&mut ws).await,
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Writes `first` and up to [`WRITE_BATCH`] more queued commands, then
    /// flushes once.
    async fn commands_batch(&mut self, ws: &mut Ws, first: Command) -> Option<End> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(command) = next.take() {
            if let Some(end) = self.command(ws, command).await {
                return Some(end);
            }
            written += 1;
            if written < WRITE_BATCH {
                next = self.commands.try_recv().ok();
            }
        }
        ws.flush().await.err().map(|e| End::Lost(e.to_string()))
    }

    /// Handles one command (writes are fed, not flushed).
    async fn command(&mut self, ws: &mut Ws, command: Command) -> Option<End> {
        let fed = match command {
            Command::Send(message) => ws.feed(message).await,
            Command::Request(rid, message) => {
                // Marked first: if the write fails midway, the server may have
                // read it, so the outcome is unknown (ConnectionLost).
                self.shared.core().mark_sent(&rid);
                ws.feed(message).await
            }
            Command::Close(ack) => {
                close_cleanly(ws).await;
                let _ = ack.send(());
                return Some(End::Closed);
            }
            Command::DropTransport(ack) => {
                // RST instead of FIN: as abrupt as a network failure.
                if let Err(e) = ws.get_ref().set_zero_linger() {
                    debug!(error = %e, "SO_LINGER not set; the drop will be a FIN");
                }
                return Some(End::Dropped(ack));
            }
        };
        fed.err().map(|e| End::Lost(e.to_string()))
    }

    async fn ping(&mut self, ws: &mut Ws) -> Option<End> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let ping = arbiter_protocol::ClientFrame::new(Ping {
            ts: Some(now_ms.into()),
        });
        match encode(self.codec(), &ping) {
            Ok(message) => ws
                .send(message)
                .await
                .err()
                .map(|e| End::Lost(e.to_string())),
            Err(e) => {
                warn!(error = %e, "cannot encode ping");
                None
            }
        }
    }

    fn codec(&self) -> Codec {
        self.shared.session().codec
    }

    /// Decodes and routes one WebSocket message.
    async fn incoming(&mut self, ws: &mut Ws, message: Message) -> Option<End> {
        let codec = self.codec();
        let decoded = match &message {
            Message::Text(text) if codec == Codec::Json => {
                Codec::Json.decode_server(text.as_bytes(), &Limits::for_server_frames())
            }
            Message::Binary(bytes) if codec == Codec::MsgPack => {
                Codec::MsgPack.decode_server(bytes, &Limits::for_server_frames())
            }
            Message::Text(_) | Message::Binary(_) => {
                let reason = format!("a frame of the wrong WebSocket kind for codec {codec}");
                self.event(Event::InvalidFrame { reason });
                return None;
            }
            Message::Close(close) => {
                let why = close
                    .as_ref()
                    .map_or_else(String::new, |c| format!(": {} {}", c.code, c.reason));
                return Some(End::Lost(format!("the server closed the connection{why}")));
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
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
                    Ok(message) => {
                        if let Err(e) = ws.feed(message).await {
                            return Some(End::Lost(e.to_string()));
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
        if fed && let Err(e) = ws.flush().await {
            return Some(End::Lost(e.to_string()));
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
    async fn reconnect(&mut self) -> Option<Ws> {
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
                Ok((ws, ok)) => {
                    self.adopt(ok);
                    return Some(ws);
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

/// Sends a close frame and waits (briefly) for the server's.
async fn close_cleanly(ws: &mut Ws) {
    if let Err(e) = ws.close(None).await {
        debug!(error = %e, "close frame not sent");
        return;
    }
    // Read until the server's close frame; the TCP close is the server's to do.
    let drain = async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        debug!("the server did not answer the close frame");
    }
}
