//! What the broadcaster reports on `METRICS_LISTEN`: `/metrics`
//! (Prometheus), `/health` (liveness) and `/health/ready` (the events
//! stream is consumed: clients would get their updates).
//!
//! On the public port, a connection's request line is peeked before anyone
//! reads it: `/ws...` goes to the WebSocket handshake, anything else gets a
//! 404.

use crate::hub::Hub;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Whether the connection asks for `/ws` (the WebSocket endpoint), from the
/// first bytes of its request line, without consuming them. `None` if the
/// client sent no request line by `deadline` or closed.
///
/// Clients send the request line in one segment, so the first peek nearly
/// always decides. A client that stalls mid-line is re-checked with a
/// growing pause (up to 100 ms): a slow sender costs a few wake-ups a
/// second, never a busy loop.
pub async fn wants_websocket(stream: &TcpStream, deadline: tokio::time::Instant) -> Option<bool> {
    let peeked = async {
        let mut buffer = [0u8; 32];
        let mut pause = Duration::from_millis(2);
        loop {
            let n = stream.peek(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            let head = &buffer[..n];
            // "GET /ws" and whatever follows; enough to tell once the path
            // has begun, or the buffer is full.
            if let Some(path_start) = head.iter().position(|b| *b == b' ') {
                let path = &head[path_start + 1..];
                if path.len() >= 3 || n == buffer.len() || path.contains(&b' ') {
                    return Some(path.starts_with(b"/ws"));
                }
            } else if n == buffer.len() {
                return Some(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    };
    tokio::time::timeout_at(deadline, peeked)
        .await
        .ok()
        .flatten()
}

/// What the broadcaster's plain endpoints report: ready while the events
/// stream is consumed (clients would get their updates).
pub struct Broadcaster(pub Arc<Hub>);

impl shared::endpoints::Exposed for Broadcaster {
    fn render(&self) -> String {
        self.0.metrics.render()
    }

    fn ready(&self) -> bool {
        self.0.metrics.broker_connected.get() == 1
    }
}
