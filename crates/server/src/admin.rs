//! The admin HTTP server (`--admin-addr`): health, metrics and a room list for
//! operators and orchestrators. It is meant for a private network or loopback:
//! it has no auth and serves only reads.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok`, or `503 draining` once shutdown started (load balancers stop routing) |
//! | `GET /metrics` | Prometheus text format 0.0.4 |
//! | `GET /v1/rooms` | JSON array of live rooms |
//! | anything else | `404` (`405` for a method other than GET/HEAD on a known path) |
//!
//! The server keeps answering during a drain, so `/healthz` can report it;
//! the binary stops it last.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

/// Content type of `/metrics` (Prometheus text exposition format 0.0.4).
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin routes read. The runtime implements it; tests use a fake.
pub(crate) trait AdminSource: Send + Sync + 'static {
    /// The Prometheus text of every metric.
    fn metrics_text(&self) -> String;
    /// The live rooms as a JSON array.
    fn rooms_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    /// Whether the server is shutting down.
    fn is_draining(&self) -> bool;
}

/// Serves the admin routes on `listener` until `shutdown` completes. Accept
/// errors (e.g. out of file descriptors) are logged and retried, never fatal.
pub(crate) async fn serve<S: AdminSource>(
    listener: TcpListener,
    source: Arc<S>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(stream, peer, Arc::clone(&source)));
    }
}

async fn serve_connection<S: AdminSource>(stream: TcpStream, peer: SocketAddr, source: Arc<S>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(source.as_ref(), request.method(), request.uri().path());
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "admin connection ended with an error");
    }
}

/// The response to `method path`. Pure, so the routing is tested without
/// sockets.
pub(crate) fn respond<S: AdminSource + ?Sized>(
    source: &S,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    if !matches!(path, "/healthz" | "/metrics" | "/v1/rooms") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" if source.is_draining() => text(StatusCode::SERVICE_UNAVAILABLE, "draining"),
        "/healthz" => text(StatusCode::OK, "ok"),
        "/metrics" => body(StatusCode::OK, METRICS_CONTENT_TYPE, source.metrics_text()),
        _ => match source.rooms_json() {
            Ok(json) => body(StatusCode::OK, "application/json", json),
            Err(error) => {
                tracing::error!(%error, "cannot serialize the room list");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        },
    }
}

fn text(status: StatusCode, message: &'static str) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", message)
}

fn body(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(bytes.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[derive(Default)]
    struct Fake {
        draining: AtomicBool,
        broken_rooms: bool,
    }

    impl AdminSource for Fake {
        fn metrics_text(&self) -> String {
            "# TYPE arbiter_resumes_total counter\narbiter_resumes_total 3\n".to_owned()
        }
        fn rooms_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            if self.broken_rooms {
                return serde_json::from_str::<Vec<u8>>("not json");
            }
            serde_json::to_vec(&serde_json::json!([{ "room": "r1", "room_type": "counter" }]))
        }
        fn is_draining(&self) -> bool {
            self.draining.load(Ordering::Relaxed)
        }
    }

    async fn call(source: &Fake, method: Method, path: &str) -> (StatusCode, String, String) {
        let response = respond(source, &method, path);
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("Full never fails")
            .to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn healthz_turns_503_while_draining() {
        let fake = Fake::default();
        let (status, _, body) = call(&fake, Method::GET, "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        fake.draining.store(true, Ordering::Relaxed);
        let (status, _, body) = call(&fake, Method::GET, "/healthz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "draining")
        );
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let (status, content_type, body) = call(&Fake::default(), Method::GET, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/plain; version=0.0.4");
        assert!(body.contains("arbiter_resumes_total 3"), "{body}");
    }

    #[tokio::test]
    async fn rooms_are_a_json_array() {
        let (status, content_type, body) = call(&Fake::default(), Method::GET, "/v1/rooms").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let rooms: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(rooms[0]["room"], "r1");
    }

    #[tokio::test]
    async fn a_room_list_failure_is_a_500() {
        let fake = Fake {
            broken_rooms: true,
            ..Fake::default()
        };
        let (status, _, _) = call(&fake, Method::GET, "/v1/rooms").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_refused() {
        let fake = Fake::default();
        for path in ["/", "/metrics/", "/v1/rooms/x", "/healthz/../metrics"] {
            let (status, _, _) = call(&fake, Method::GET, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let response = respond(&fake, &Method::POST, "/healthz");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            respond(&fake, &Method::HEAD, "/metrics").status(),
            StatusCode::OK
        );
    }

    /// One raw HTTP/1.1 request over loopback, answer read to the end.
    async fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn serves_over_tcp_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(Fake::default()), async {
            let _ = stopped.await;
        }));

        let answer = raw_get(addr, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
        let answer = raw_get(addr, "/metrics?x=1").await;
        assert!(
            answer.contains("content-type: text/plain; version=0.0.4\r\n"),
            "{answer}"
        );
        let answer = raw_get(addr, "/nope").await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");

        stop.send(()).expect("server still running");
        server.await.expect("server task ends cleanly");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "listener closed after shutdown"
        );
    }
}
