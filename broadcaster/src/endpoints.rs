//! The plain HTTP endpoints beside `/ws` on the broadcaster's port:
//! `/metrics` (Prometheus) and `/health` (orchestrators' probes).
//!
//! A connection's request line is peeked before anyone reads it: `/ws...`
//! goes to the WebSocket handshake, anything else to a small hyper service.

use crate::hub::Hub;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Whether the connection asks for `/ws` (the WebSocket endpoint), from the
/// first bytes of its request line, without consuming them. `None` if the
/// client sent no request line in time or closed.
pub async fn wants_websocket(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let peeked = async {
        let mut buffer = [0u8; 32];
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
            // Only part of the line so far: wait for more.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, peeked).await.ok().flatten()
}

/// Serves one plain HTTP connection (keep-alive allowed) until the client
/// closes it or shutdown begins.
pub async fn serve(
    stream: TcpStream,
    hub: Arc<Hub>,
    read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let hub = Arc::clone(&hub);
        async move { Ok::<_, std::convert::Infallible>(answer(&hub, &request)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "plain HTTP connection ended with an error");
    }
}

fn answer(hub: &Hub, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            shared::metrics::CONTENT_TYPE,
            hub.metrics.render(),
        ),
        (&Method::GET, "/health") => (
            StatusCode::OK,
            "application/json",
            r#"{"status":"live"}"#.to_owned(),
        ),
        (_, "/metrics" | "/health") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            r#"{"error":"method not allowed; use GET"}"#.to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":"no such endpoint; use /ws, /metrics or /health"}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
