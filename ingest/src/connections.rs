//! Serving admitted connections: one task each, watched for a graceful
//! shutdown, with the peer's address stamped on every request; and the
//! next connection of a port that may not exist (`OSMAND_LISTEN=off`).

use crate::routes::PeerAddr;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use shared::admission::{Accepted, Gate};
use std::time::Duration;

/// The next connection on an optional port (never, when there is none).
pub async fn next_on(gate: Option<&Gate>) -> Accepted {
    match gate {
        Some(gate) => gate.next().await,
        None => std::future::pending().await,
    }
}

/// Serves one admitted connection on its own task, watched by `graceful`;
/// its slot and place go back when it ends.
pub fn serve_connection<S>(
    accepted: Accepted,
    service: S,
    read_timeout: Duration,
    graceful: &GracefulShutdown,
) where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = crate::http::ApiResponse,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let peer = accepted.peer.ip();
    // The router learns the client's address from the request.
    let service = TowerToHyperService::new(tower::ServiceExt::map_request(
        service,
        move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            request
        },
    ));
    let Accepted {
        stream,
        peer: _,
        admitted,
    } = accepted;
    let connection = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended with an error");
        }
        drop(admitted);
    });
}
