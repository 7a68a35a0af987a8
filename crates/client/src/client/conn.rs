//! Opening one connection: TCP (no Nagle) and WebSocket upgrade, or QUIC and
//! its first stream; then the JSON handshake and `handshake.ok`. Also the
//! `session.attach` exchange of an attached QUIC connection.

use arbiter_protocol::{
    ClientFrame, Codec, Handshake, HandshakeOk, Limits, ServerFrame, ServerMessage, SessionAttach,
    SessionId,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::link::Link;
use super::quic::QuicLink;
use crate::config::{ClientConfig, QuicTarget, Transport};
use crate::error::ClientError;

/// The socket type the client drives.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// What a resuming handshake carries.
pub(crate) struct Resume {
    /// The session to resume.
    pub(crate) session_id: SessionId,
    /// Its resume token.
    pub(crate) resume_token: String,
}

/// Connects, upgrades, sends the handshake (resuming when `resume` is given)
/// and waits for `handshake.ok`. Not bounded in time: callers wrap it in a
/// timeout.
pub(crate) async fn open(
    config: &ClientConfig,
    resume: Option<Resume>,
) -> Result<(Link, HandshakeOk), ClientError> {
    let mut handshake = Handshake::new(config.project_id.clone(), &config.codecs);
    handshake.token = config.token.clone();
    if let Some(resume) = resume {
        handshake.session_id = Some(resume.session_id);
        handshake.resume_token = Some(resume.resume_token);
    }
    let mut buf = Vec::new();
    handshake.encode(&mut buf)?;
    let (link, ok) = match &config.transport {
        Transport::WebSocket => {
            let mut ws = upgrade(&config.url).await?;
            let text = String::from_utf8(buf).map_err(|_| {
                ClientError::Protocol("the handshake encoded to invalid UTF-8".into())
            })?;
            ws.send(Message::text(text)).await?;
            let ok = await_handshake_ok(&mut ws).await?;
            (Link::Ws(Box::new(ws)), ok)
        }
        Transport::Quic(target) => {
            let mut quic = QuicLink::open(target).await?;
            quic.feed(buf.into())?;
            quic.flush().await?;
            let ok = handshake_reply(quic.read_json_reply().await?)?;
            (Link::Quic(Box::new(quic)), ok)
        }
    };
    if !config.codecs.contains(&ok.codec) {
        return Err(ClientError::Protocol(format!(
            "the server chose codec {}, which the client did not offer",
            ok.codec
        )));
    }
    Ok((link, ok))
}

/// Opens a QUIC connection to `target` and attaches it to the session named
/// by the pair: `session.attach` (JSON) on its first stream, then
/// `session.attach.ok`, or the `error` that refuses it.
pub(crate) async fn attach(
    target: &QuicTarget,
    session_id: SessionId,
    resume_token: String,
) -> Result<QuicLink, ClientError> {
    let mut quic = QuicLink::open(target).await?;
    let frame = ClientFrame::new(SessionAttach {
        session_id,
        resume_token,
    });
    let mut buf = Vec::new();
    Codec::Json.encode_client(&frame, &mut buf)?;
    quic.feed(buf.into())?;
    quic.flush().await?;
    match quic.read_json_reply().await?.msg {
        ServerMessage::SessionAttachOk(_) => Ok(quic),
        ServerMessage::Error(e) => Err(ClientError::Rejected {
            code: e.code,
            reason: e.reason,
        }),
        other => Err(ClientError::Protocol(format!(
            "expected session.attach.ok, got {}",
            other.message_type()
        ))),
    }
}

/// The host and port of a `ws://` URL (brackets of an IPv6 literal removed).
pub(crate) fn ws_host(url: &str) -> Result<(String, u16), ClientError> {
    let bad_url = |why: String| ClientError::InvalidInput(format!("url {url:?}: {why}"));
    let request = url
        .into_client_request()
        .map_err(|e| bad_url(e.to_string()))?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(bad_url("only ws:// URLs are supported".into()));
    }
    let host = uri
        .host()
        .ok_or_else(|| bad_url("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, uri.port_u16().unwrap_or(80)))
}

/// TCP connect with `TCP_NODELAY`, then the WebSocket upgrade.
async fn upgrade(url: &str) -> Result<Ws, ClientError> {
    let (host, port) = ws_host(url)?;
    let request = url
        .into_client_request()
        .map_err(|e| ClientError::InvalidInput(format!("url {url:?}: {e}")))?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let (ws, _response) = tokio_tungstenite::client_async(request, tcp).await?;
    Ok(ws)
}

/// Reads until the first data frame, which must be `handshake.ok` (or the
/// `error` that refuses the handshake).
async fn await_handshake_ok(ws: &mut Ws) -> Result<HandshakeOk, ClientError> {
    loop {
        let text = match ws.next().await {
            None | Some(Ok(Message::Close(_))) => {
                return Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the server closed the connection during the handshake",
                )));
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                return Err(ClientError::Protocol(
                    "a binary frame before handshake.ok (the handshake reply is JSON text)".into(),
                ));
            }
            Some(Ok(_)) => continue,
        };
        let frame = Codec::Json
            .decode_server(text.as_bytes(), &Limits::for_server_frames())
            .map_err(|e| ClientError::Protocol(format!("undecodable handshake reply: {e}")))?;
        return handshake_reply(frame);
    }
}

/// `handshake.ok`, or the refusal as an error.
fn handshake_reply(frame: ServerFrame) -> Result<HandshakeOk, ClientError> {
    match frame.msg {
        ServerMessage::HandshakeOk(ok) => Ok(ok),
        ServerMessage::Error(e) => Err(ClientError::Rejected {
            code: e.code,
            reason: e.reason,
        }),
        other => Err(ClientError::Protocol(format!(
            "expected handshake.ok, got {}",
            other.message_type()
        ))),
    }
}
