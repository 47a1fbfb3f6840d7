//! The operations endpoints every service serves on a listener of its own
//! (`METRICS_LISTEN`), apart from the public port, so that no public cap or
//! limit counts them and no client reaches them through the public route:
//! `/metrics`, `/health` and `/health/live` (the process answers), and
//! `/health/ready` (its broker link is up).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the endpoints report on.
pub trait Exposed: Send + Sync + 'static {
    /// The metrics, in the Prometheus text format.
    fn render(&self) -> String;
    /// Whether the service can do its work now (readiness).
    fn ready(&self) -> bool;
}

/// Serves the endpoints on `listener` until `stop`; the caller owns the task.
pub fn serve(
    listener: TcpListener,
    exposed: Arc<dyn Exposed>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let connections = TaskTracker::new();
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "operations endpoint accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            connections.spawn(serve_connection(
                stream,
                Arc::clone(&exposed),
                Duration::from_secs(10),
                stop.clone(),
            ));
        }
        connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), connections.wait()).await;
    })
}

/// `METRICS_LISTEN` as an address, or `None` for `off` (or empty).
pub fn listen_var(
    default: &str,
) -> Result<Option<std::net::SocketAddr>, crate::config::ConfigError> {
    optional_listen_var("METRICS_LISTEN", default)
}

/// An address to listen on from `name` (`host:port`), or `None` for `off`.
pub fn optional_listen_var(
    name: &str,
    default: &str,
) -> Result<Option<std::net::SocketAddr>, crate::config::ConfigError> {
    match crate::config::var(name, default.to_owned())?.trim() {
        "" | "off" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|_| crate::config::ConfigError {
                name: name.into(),
                value: addr.to_owned(),
                reason: "expected host:port (an IP address), or off".into(),
            }),
    }
}

/// Serves one connection (keep-alive allowed) until the client closes it or
/// `stop` fires.
pub async fn serve_connection(
    stream: TcpStream,
    exposed: Arc<dyn Exposed>,
    read_timeout: Duration,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let exposed = Arc::clone(&exposed);
        async move { Ok::<_, std::convert::Infallible>(respond(exposed.as_ref(), &request)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "plain HTTP connection ended with an error");
    }
}

fn respond(
    exposed: &dyn Exposed,
    request: &Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = answer(
        request.method() == Method::GET,
        request.uri().path(),
        || exposed.render(),
        exposed.ready(),
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What a service's plain HTTP endpoints answer (the workers' metrics port,
/// the broadcaster's beside `/ws`): `/metrics`, `/health` and `/health/live`
/// (liveness: the process answers), `/health/ready` (`ready`: the broker
/// link is up). Status code, content type, body.
fn answer(
    is_get: bool,
    path: &str,
    render: impl FnOnce() -> String,
    ready: bool,
) -> (u16, &'static str, String) {
    const JSON: &str = "application/json";
    match (is_get, path) {
        (true, "/metrics") => (200, crate::metrics::CONTENT_TYPE, render()),
        (true, "/health" | "/health/live") => (200, JSON, r#"{"status":"live"}"#.into()),
        (true, "/health/ready") if ready => (200, JSON, r#"{"status":"ready"}"#.into()),
        (true, "/health/ready") => (503, JSON, r#"{"status":"not ready"}"#.into()),
        (false, "/metrics" | "/health" | "/health/live" | "/health/ready") => (
            405,
            JSON,
            r#"{"error":"method not allowed; use GET"}"#.into(),
        ),
        _ => (
            404,
            JSON,
            r#"{"error":"no such endpoint; use /metrics, /health or /health/ready"}"#.into(),
        ),
    }
}
