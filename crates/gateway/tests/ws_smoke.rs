//! The WebSocket gateway against a real runtime with the reference plugins:
//! raw frames, written from PROTOCOL.md, over a loopback socket.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arbiter_runtime::{Metrics, Runtime, RuntimeConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins")
}

async fn server() -> std::net::SocketAddr {
    let config = RuntimeConfig {
        plugins_dir: plugins_dir(),
        host: arbiter_plugin_host_config(),
        ..RuntimeConfig::default()
    };
    let rt = Runtime::start(config, Arc::new(Metrics::new())).expect("runtime starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(arbiter_gateway::serve_ws(
        listener,
        rt,
        std::future::pending(),
    ));
    addr
}

fn arbiter_plugin_host_config() -> arbiter_plugin_host::HostConfig {
    arbiter_plugin_host::HostConfig {
        cache_dir: None,
        ..Default::default()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_over_raw_websocket_json() {
    let addr = server().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    send(
        &mut ws,
        json!({"v":1,"codecs":["json"],"project_id":"demo"}),
    )
    .await;
    let ok = next_json(&mut ws).await;
    assert_eq!(ok["t"], "handshake.ok", "{ok}");
    assert_eq!(ok["p"]["codec"], "json");
    assert_eq!(ok["p"]["resumed"], false);

    send(&mut ws, json!({"v":1,"t":"room.join_or_create","rid":"c-1","p":{"room_type":"counter","room":"c-room"}})).await;
    let resp = next_json(&mut ws).await;
    assert_eq!(resp["t"], "rpc.response", "{resp}");
    assert_eq!(resp["rid"], "c-1");
    assert_eq!(
        resp["p"],
        json!({"ok": true, "room": "c-room", "room_type": "counter", "created": true})
    );
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["t"], "state.snapshot");
    assert_eq!(snap["room"], "c-room");
    assert_eq!(snap["p"]["state"], json!({"counter": 0}));
    let seq = snap["p"]["seq"].as_u64().unwrap();
    let presence = next_json(&mut ws).await;
    assert_eq!(presence["t"], "presence.state");

    send(
        &mut ws,
        json!({"v":1,"t":"room.message","room":"c-room","p":{"type":"inc","data":{"by":5}}}),
    )
    .await;
    let patch = next_json(&mut ws).await;
    assert_eq!(patch["t"], "state.patch", "{patch}");
    assert_eq!(patch["p"]["seq"].as_u64().unwrap(), seq + 1);
    assert_eq!(
        patch["p"]["ops"],
        json!([{"op":"set","path":"/counter","value":5}])
    );
    assert_eq!(patch["p"]["checksum"].as_str().unwrap().len(), 16);

    // Not a member of another room.
    send(
        &mut ws,
        json!({"v":1,"t":"room.message","rid":"c-2","room":"other","p":{"type":"inc","data":{}}}),
    )
    .await;
    let err = next_json(&mut ws).await;
    assert_eq!(err["t"], "error");
    assert_eq!(err["rid"], "c-2");
    assert_eq!(err["p"]["code"], "room.not_member");

    send(&mut ws, json!({"v":1,"t":"ping","p":{"ts":42}})).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(pong["t"], "pong");
    assert_eq!(pong["p"]["ts"], 42);
}
