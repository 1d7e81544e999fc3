//! The agent's WebSocket as a program or a browser opens it, and reading its frames.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/agent/ws` at `addr` with `headers` (a bearer token, a cookie, an origin).
pub async fn open(
    addr: std::net::SocketAddr,
    headers: &[(&'static str, &str)],
) -> Result<Ws, tungstenite::Error> {
    let mut request = format!("ws://{addr}/agent/ws").into_client_request()?;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("a header value"));
    }
    Ok(tokio_tungstenite::connect_async(request).await?.0)
}

/// The next frame of `kind` (others are skipped, and named if it never comes), within 5 s.
pub async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    next_where(ws, kind, |_| true).await
}

/// The next frame of `kind` that `pick` accepts, skipping others (5 s at most).
pub async fn next_where(ws: &mut Ws, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
    next_within(ws, kind, pick, Duration::from_secs(5)).await
}

/// The next frame of `kind` that `pick` accepts, skipping others, within `within`.
pub async fn next_within(
    ws: &mut Ws,
    kind: &str,
    pick: impl Fn(&Value) -> bool,
    within: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    let mut skipped = Vec::new();
    loop {
        let Ok(frame) = tokio::time::timeout_at(deadline, ws.next()).await else {
            panic!("no {kind} frame; skipped {skipped:?}");
        };
        if let tungstenite::Message::Text(text) = frame.expect("open").expect("frame") {
            let v: Value = serde_json::from_str(&text).expect("json");
            if v["type"] == kind && pick(&v) {
                return v;
            }
            skipped.push(v);
        }
    }
}
