//! Opening one connection: TCP (no Nagle), WebSocket upgrade, JSON handshake,
//! `handshake.ok`.

use arbiter_protocol::{Codec, Handshake, HandshakeOk, Limits, ServerMessage, SessionId};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::config::ClientConfig;
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
) -> Result<(Ws, HandshakeOk), ClientError> {
    let mut ws = upgrade(&config.url).await?;
    let mut handshake = Handshake::new(config.project_id.clone(), &config.codecs);
    handshake.token = config.token.clone();
    if let Some(resume) = resume {
        handshake.session_id = Some(resume.session_id);
        handshake.resume_token = Some(resume.resume_token);
    }
    let mut buf = Vec::new();
    handshake.encode(&mut buf)?;
    let text = String::from_utf8(buf)
        .map_err(|_| ClientError::Protocol("the handshake encoded to invalid UTF-8".into()))?;
    ws.send(Message::text(text)).await?;
    let ok = await_handshake_ok(&mut ws).await?;
    if !config.codecs.contains(&ok.codec) {
        return Err(ClientError::Protocol(format!(
            "the server chose codec {}, which the client did not offer",
            ok.codec
        )));
    }
    Ok((ws, ok))
}

/// TCP connect with `TCP_NODELAY`, then the WebSocket upgrade.
async fn upgrade(url: &str) -> Result<Ws, ClientError> {
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
    let port = uri.port_u16().unwrap_or(80);
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
        return match frame.msg {
            ServerMessage::HandshakeOk(ok) => Ok(ok),
            ServerMessage::Error(e) => Err(ClientError::Rejected {
                code: e.code,
                reason: e.reason,
            }),
            other => Err(ClientError::Protocol(format!(
                "expected handshake.ok, got {}",
                other.message_type()
            ))),
        };
    }
}
