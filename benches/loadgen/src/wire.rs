//! The lean client the workloads drive: one WebSocket, the handshake, frames
//! encoded with `arbiter-protocol`, and a partial decoder ([`Lite`]) that reads
//! only what a load generator needs from each server frame (type, rid, seq,
//! `ok`/`code`, and the path and numeric value of each patch op).
//!
//! It keeps no replica and sends no acks or pings: every workload sends
//! traffic far more often than the heartbeat needs, and a replica per client
//! would measure the load generator instead of the server.

use std::borrow::Cow;
use std::fmt;

use arbiter_protocol::{
    ClientFrame, Codec, Handshake, HandshakeOk, JoinOrCreate, LeaveRoom, Limits, QuicInfo, RoomId,
    RoomMessage, ServerMessage,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::{LoadgenError, Result};
use crate::target::Target;

/// The socket type.
pub type Ws = WebSocketStream<TcpStream>;

/// The clients' WebSocket read buffer. tungstenite's default (128 KiB) is
/// allocated per connection and zeroed on every read: with ~1 KB frames that
/// memset was half of the load generator's CPU.
pub const CLIENT_READ_BUFFER: usize = 4096;

/// A tungstenite configuration with a read buffer of `read_buffer` bytes.
pub fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(read_buffer)
}

/// One connected, handshaken client.
pub struct Conn {
    /// The WebSocket.
    pub ws: Ws,
    /// The negotiated codec.
    pub codec: Codec,
    /// The session id from `handshake.ok`.
    pub session_id: String,
    /// The server's QUIC endpoint, from `handshake.ok`.
    pub quic: Option<QuicInfo>,
    next_rid: u64,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("codec", &self.codec)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// TCP connect (`TCP_NODELAY`), WebSocket upgrade, handshake offering only
    /// `codec`, and `handshake.ok`. Not bounded in time: callers add a timeout.
    pub async fn connect(target: &Target, codec: Codec, project: &str) -> Result<Conn> {
        let tcp = TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(
            target.url.as_str(),
            tcp,
            Some(ws_config(CLIENT_READ_BUFFER)),
        )
        .await?;
        let mut buf = Vec::with_capacity(128);
        Handshake::new(project, &[codec])
            .encode(&mut buf)
            .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
        let text = String::from_utf8(buf)
            .map_err(|_| LoadgenError::Protocol("handshake is not UTF-8".into()))?;
        ws.send(Message::text(text)).await?;
        let ok = await_handshake_ok(&mut ws).await?;
        Ok(Conn {
            ws,
            codec,
            session_id: ok.session_id.as_str().to_owned(),
            quic: ok.quic,
            next_rid: 0,
        })
    }

    /// Encodes `frame` in the session's codec as one WebSocket message.
    pub fn encode(&self, frame: &ClientFrame) -> Result<Message> {
        let mut buf = Vec::with_capacity(96);
        self.codec
            .encode_client(frame, &mut buf)
            .map_err(|e| LoadgenError::Protocol(e.to_string()))?;
        if self.codec.is_binary() {
            Ok(Message::binary(buf))
        } else {
            let text = String::from_utf8(buf)
                .map_err(|_| LoadgenError::Protocol("JSON frame is not UTF-8".into()))?;
            Ok(Message::text(text))
        }
    }

    /// Sends `frame` (one write).
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        let msg = self.encode(frame)?;
        self.ws.send(msg).await?;
        Ok(())
    }

    /// A fresh request id (`"l-N"`).
    pub fn rid(&mut self) -> String {
        self.next_rid += 1;
        format!("l-{}", self.next_rid)
    }

    /// Sends `room.join_or_create { room_type, room }` and returns its rid.
    pub async fn send_join(&mut self, room_type: &str, room: &RoomId) -> Result<String> {
        let rid = self.rid();
        let frame = ClientFrame::new(JoinOrCreate {
            room_type: room_type.to_owned(),
            room: Some(room.clone()),
            options: None,
        })
        .with_rid(rid.as_str());
        self.send(&frame).await?;
        Ok(rid)
    }

    /// Sends `room.leave { room }` and returns its rid.
    pub async fn send_leave(&mut self, room: &RoomId) -> Result<String> {
        let rid = self.rid();
        let frame = ClientFrame::new(LeaveRoom { room: room.clone() }).with_rid(rid.as_str());
        self.send(&frame).await?;
        Ok(rid)
    }

    /// Reads frames until `until` says stop, returning what it returned. Each
    /// data frame is decoded with [`Lite::decode`]; an `error` frame or an
    /// `rpc.response` with `ok: false` carrying `rid` is a [`LoadgenError::Refused`].
    pub async fn read_until<T>(
        &mut self,
        rid: Option<&str>,
        mut until: impl FnMut(&Lite<'_>) -> Option<T>,
    ) -> Result<T> {
        loop {
            let msg = match self.ws.next().await {
                Some(msg) => msg?,
                None => return Err(LoadgenError::Ws("the server closed the connection".into())),
            };
            let bytes: &[u8] = match &msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.as_bytes(),
                Message::Close(_) => {
                    return Err(LoadgenError::Ws("the server closed the connection".into()));
                }
                _ => continue,
            };
            let frame = Lite::decode(self.codec, bytes)?;
            if let Some(refusal) = frame.refusal(rid) {
                return Err(refusal);
            }
            if let Some(done) = until(&frame) {
                return Ok(done);
            }
        }
    }
}

/// Waits for the first data frame, which must be `handshake.ok`.
async fn await_handshake_ok(ws: &mut Ws) -> Result<HandshakeOk> {
    loop {
        let text = match ws.next().await {
            None | Some(Ok(Message::Close(_))) => {
                return Err(LoadgenError::Ws(
                    "the server closed the connection during the handshake".into(),
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                return Err(LoadgenError::Protocol(
                    "a binary frame before handshake.ok".into(),
                ));
            }
            Some(Ok(_)) => continue,
        };
        return handshake_reply(text.as_bytes());
    }
}

/// Decodes the (JSON) answer to a handshake: `handshake.ok`, or the refusal.
pub fn handshake_reply(bytes: &[u8]) -> Result<HandshakeOk> {
    let frame = Codec::Json
        .decode_server(bytes, &Limits::for_server_frames())
        .map_err(|e| LoadgenError::Protocol(format!("undecodable handshake reply: {e}")))?;
    match frame.msg {
        ServerMessage::HandshakeOk(ok) => Ok(ok),
        ServerMessage::Error(e) => Err(LoadgenError::Refused {
            code: e.code.to_string(),
            reason: e.reason,
        }),
        other => Err(LoadgenError::Protocol(format!(
            "expected handshake.ok, got {}",
            other.message_type()
        ))),
    }
}

/// `room.message` `{ type, data }` to `room`.
pub fn room_message(room: &RoomId, kind: &str, data: serde_json::Value) -> ClientFrame {
    ClientFrame::new(RoomMessage {
        kind: kind.to_owned(),
        data,
    })
    .in_room(room.clone())
}

/// The parts of a server frame a load generator reads. Unknown keys (the
/// snapshot's state, checksums, presence) are skipped without building values.
#[derive(Debug, Deserialize)]
pub struct Lite<'a> {
    /// The message type.
    #[serde(borrow)]
    pub t: Cow<'a, str>,
    /// The rid, when the frame answers a request (the load generator only
    /// sends string rids).
    #[serde(default, borrow)]
    pub rid: Option<Cow<'a, str>>,
    /// The payload.
    #[serde(default, borrow)]
    pub p: Option<LitePayload<'a>>,
}

/// The payload fields a load generator reads.
#[derive(Debug, Default, Deserialize)]
pub struct LitePayload<'a> {
    /// `rpc.response`'s `ok`.
    #[serde(default)]
    pub ok: Option<bool>,
    /// The error code of `error` or of a failed `rpc.response`.
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    /// The reason that goes with `code`.
    #[serde(default, borrow)]
    pub reason: Option<Cow<'a, str>>,
    /// `state.patch` / `state.snapshot` seq.
    #[serde(default)]
    pub seq: Option<u64>,
    /// `state.patch` ops.
    #[serde(default, borrow)]
    pub ops: Option<Vec<LiteOp<'a>>>,
}

/// One patch op: its path, and its value when that is a number.
#[derive(Debug, Deserialize)]
pub struct LiteOp<'a> {
    /// The JSON Pointer.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// The value, when it is a number.
    #[serde(default)]
    pub value: LiteNum,
}

impl<'a> Lite<'a> {
    /// Decodes the parts of a frame in `codec`.
    pub fn decode(codec: Codec, bytes: &'a [u8]) -> Result<Lite<'a>> {
        let decoded = match codec {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Codec::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        };
        decoded.map_err(|e| LoadgenError::Protocol(format!("undecodable server frame: {e}")))
    }

    /// The frame's payload, or an empty one.
    pub fn payload(&self) -> &LitePayload<'a> {
        static EMPTY: LitePayload<'static> = LitePayload {
            ok: None,
            code: None,
            reason: None,
            seq: None,
            ops: None,
        };
        self.p.as_ref().unwrap_or(&EMPTY)
    }

    /// Whether this is an `rpc.response` to `rid`.
    pub fn answers(&self, rid: &str) -> bool {
        self.t == "rpc.response" && self.rid.as_deref() == Some(rid)
    }

    /// The refusal this frame carries for a caller waiting on `rid`: an
    /// `error` frame (any), or a failed `rpc.response` to `rid`.
    pub fn refusal(&self, rid: Option<&str>) -> Option<LoadgenError> {
        let p = self.payload();
        let failed =
            self.t == "error" || (rid.is_some_and(|rid| self.answers(rid)) && p.ok == Some(false));
        failed.then(|| LoadgenError::Refused {
            code: p.code.as_deref().unwrap_or("?").to_owned(),
            reason: p.reason.as_deref().unwrap_or("").to_owned(),
        })
    }
}

/// A patch op's value read as a number; anything else (an object for a
/// joining player, a string, null) is skipped and reads as `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LiteNum(pub Option<f64>);

impl<'de> Deserialize<'de> for LiteNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<LiteNum, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = LiteNum;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(Some(v as f64)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(Some(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(Some(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(None))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(None))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(None))
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<LiteNum, E> {
        Ok(LiteNum(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<LiteNum, D::Error> {
        d.deserialize_any(NumVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<LiteNum, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LiteNum(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<LiteNum, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LiteNum(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::{Seq, ServerFrame, StatePatch};
    use arbiter_state::PatchOp;
    use serde_json::json;

    fn patch_bytes(codec: Codec) -> Vec<u8> {
        let frame = ServerFrame::new(StatePatch {
            seq: Seq(7),
            ops: vec![
                PatchOp::Set {
                    path: "/players/s_a".into(),
                    value: json!({"x": 0, "y": 0}),
                },
                PatchOp::Set {
                    path: "/players/s_b/x".into(),
                    value: json!(41),
                },
                PatchOp::Set {
                    path: "/players/s_b/y".into(),
                    value: json!(2.5),
                },
                PatchOp::Del {
                    path: "/players/s_c".into(),
                },
            ],
            checksum: Some(arbiter_protocol::Checksum(1)),
        })
        .in_room(RoomId::new("arena-0").unwrap());
        let mut buf = Vec::new();
        codec.encode_server(&frame, &mut buf).unwrap();
        buf
    }

    #[test]
    fn reads_patch_ops_in_both_codecs() {
        for codec in Codec::SUPPORTED {
            let bytes = patch_bytes(codec);
            let lite = Lite::decode(codec, &bytes).unwrap();
            assert_eq!(lite.t, "state.patch");
            assert_eq!(lite.payload().seq, Some(7));
            let ops = lite.payload().ops.as_ref().unwrap();
            let found: Vec<(&str, Option<f64>)> =
                ops.iter().map(|o| (o.path.as_ref(), o.value.0)).collect();
            assert_eq!(
                found,
                [
                    ("/players/s_a", None),
                    ("/players/s_b/x", Some(41.0)),
                    ("/players/s_b/y", Some(2.5)),
                    ("/players/s_c", None),
                ]
            );
        }
    }

    #[test]
    fn recognises_refusals() {
        let err = br#"{"v":1,"t":"rpc.response","rid":"l-1","p":{"ok":false,"code":"room.full","reason":"full"}}"#;
        let lite = Lite::decode(Codec::Json, err).unwrap();
        assert!(lite.answers("l-1"));
        assert!(matches!(
            lite.refusal(Some("l-1")),
            Some(LoadgenError::Refused { code, .. }) if code == "room.full"
        ));
        assert!(lite.refusal(Some("l-2")).is_none());
        let ok = br#"{"v":1,"t":"rpc.response","rid":"l-1","p":{"ok":true,"room":"a"}}"#;
        assert!(
            Lite::decode(Codec::Json, ok)
                .unwrap()
                .refusal(Some("l-1"))
                .is_none()
        );
        assert!(Lite::decode(Codec::Json, b"{nope").is_err());
    }
}
