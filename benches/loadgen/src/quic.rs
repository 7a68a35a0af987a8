//! arena-move over QUIC (PROTOCOL.md §1): a QUIC-only session per client,
//! built on [`arbiter_client::RawQuic`]. The handshake, the join and every
//! server frame travel on the first bidirectional stream (4-byte length
//! prefix); each `move` goes as one datagram, as WORKLOAD.md asks.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use arbiter_client::{ClientError, QuicTarget, QuicTrust, RawQuic};
use arbiter_protocol::{ClientFrame, Codec, Handshake, JoinOrCreate, LeaveRoom, RoomId};
use tokio::time::{MissedTickBehavior, timeout};

use crate::arena::{Echoes, fail, lost, room_of};
use crate::error::{LoadgenError, Result};
use crate::run::{RunConfig, Shared, block_on_local};
use crate::target::Target;
use crate::wire::{Conn, Lite, handshake_reply};

/// Finds the server's QUIC endpoint: one WebSocket handshake to `target`,
/// whose `handshake.ok` names the QUIC port and the certificate's SHA-256
/// (pinned, so a self-signed development certificate is trusted exactly).
pub fn discover_quic(target: &Target, project: &str) -> Result<QuicTarget> {
    block_on_local(async {
        let mut conn = Conn::connect(target, Codec::Json, project).await?;
        let info = conn.quic.clone().ok_or_else(|| {
            LoadgenError::Unsupported(
                "--transport quic: the server offers no QUIC endpoint (handshake.ok has no `quic`)"
                    .into(),
            )
        })?;
        let _ = conn.ws.close(None).await;
        let addr = SocketAddr::new(target.addr.ip(), info.port);
        Ok(QuicTarget::new(
            addr.to_string(),
            QuicTrust::Sha256(info.cert_sha256),
        ))
    })?
}

fn quic_err(e: ClientError) -> LoadgenError {
    LoadgenError::Quic(e.to_string())
}

/// One QUIC-only session.
struct QuicConn {
    raw: RawQuic,
    codec: Codec,
    session_id: String,
}

impl QuicConn {
    async fn connect(target: &QuicTarget, codec: Codec, project: &str) -> Result<QuicConn> {
        let mut raw = RawQuic::connect(target).await.map_err(quic_err)?;
        let mut buf = Vec::with_capacity(128);
        Handshake::new(project, &[codec])
            .encode(&mut buf)
            .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
        raw.send_frame(&buf).await.map_err(quic_err)?;
        let reply = raw
            .next_frame()
            .await
            .map_err(quic_err)?
            .ok_or_else(|| LoadgenError::Quic("the server closed the stream".into()))?;
        let ok = handshake_reply(&reply)?;
        Ok(QuicConn {
            raw,
            codec: ok.codec,
            session_id: ok.session_id.as_str().to_owned(),
        })
    }

    fn encode(&self, frame: &ClientFrame) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(96);
        self.codec
            .encode_client(frame, &mut buf)
            .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
        Ok(buf)
    }

    /// Sends `frame` on the stream.
    async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        let bytes = self.encode(frame)?;
        self.raw.send_frame(&bytes).await.map_err(quic_err)
    }

    /// Joins `room` and waits for the answer.
    async fn join(&mut self, room: &RoomId) -> Result<()> {
        let rid = "l-1";
        let frame = ClientFrame::new(JoinOrCreate {
            room_type: "arena".to_owned(),
            room: Some(room.clone()),
            options: None,
        })
        .with_rid(rid);
        self.send(&frame).await?;
        loop {
            let bytes = self
                .raw
                .next_frame()
                .await
                .map_err(quic_err)?
                .ok_or_else(|| LoadgenError::Quic("the server closed the stream".into()))?;
            let lite = Lite::decode(self.codec, &bytes)?;
            if let Some(refusal) = lite.refusal(Some(rid)) {
                return Err(refusal);
            }
            if lite.answers(rid) {
                return Ok(());
            }
        }
    }
}

/// One arena client over QUIC: like the WebSocket one, with moves as
/// datagrams.
pub(crate) async fn arena_client(i: u32, cfg: Rc<RunConfig>, shared: Rc<Shared>, period: Duration) {
    let Some(room) = room_of(i, &shared) else {
        return;
    };
    let Some(target) = cfg.quic.clone() else {
        return fail(&shared, &LoadgenError::Options("no QUIC target".into()));
    };
    let setup = async {
        let mut conn = QuicConn::connect(&target, cfg.codec, &cfg.project).await?;
        conn.join(&room).await?;
        Ok::<_, LoadgenError>(conn)
    };
    let mut conn = match timeout(cfg.connect_timeout, setup).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return fail(&shared, &e),
        Err(_) => return fail(&shared, &LoadgenError::Timeout("connecting and joining")),
    };
    shared.ready.set(shared.ready.get() + 1);
    let mut echoes = Echoes::new(&conn.session_id, i);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            frame = conn.raw.next_frame() => match frame {
                Ok(Some(bytes)) => echoes.receive(conn.codec, &bytes, &shared),
                Ok(None) => return lost(&shared, "the server finished the stream"),
                Err(e) => return lost(&shared, &e.to_string()),
            },
            _ = tick.tick() => {
                if shared.stopping() {
                    break;
                }
                let sent = conn
                    .encode(&echoes.next_move(&room))
                    .and_then(|bytes| conn.raw.send_datagram(bytes).map_err(quic_err));
                match sent {
                    Ok(()) => shared.tally.borrow_mut().sent += 1,
                    Err(e) => return lost(&shared, &e.to_string()),
                }
            }
        }
    }
    let leave = ClientFrame::new(LeaveRoom { room });
    let _ = timeout(Duration::from_secs(1), conn.send(&leave)).await;
    conn.raw.close(0);
}
