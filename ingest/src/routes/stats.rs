//! `GET /api/v1/stats`: package counts, worker queue depths, which package
//! worker holds which shard, and open WebSocket connections.

use super::AppState;
use crate::http::{ApiError, Reply};
use hyper::StatusCode;
use serde::Serialize;
use shared::auth::policy::Action;
use shared::auth::Caller;

/// The original API's counts, and what an operator watches besides.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Stats {
    #[serde(flatten)]
    packages: shared::packages::reads::PackageCounts,
    /// Each worker queue's backlog, read at most a second earlier (empty
    /// while the broker is unreachable).
    queues: Vec<crate::queues::QueueDepth>,
    /// Open WebSocket connections over all broadcasters (`null` when Redis,
    /// where they report, cannot be asked).
    websocket_connections: Option<i64>,
    /// Broadcaster instances that reported in the last few seconds.
    broadcaster_instances: Option<usize>,
    /// The package-worker replicas sharing the shards (`WORKER_SHARDS=auto`),
    /// each with the shards it consumes.
    package_workers: Vec<shared::pool_members::Member>,
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "operations",
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Package counts, queue depths, connections", body = Stats)))]
pub async fn get(state: &AppState, caller: &Caller) -> Result<Reply, ApiError> {
    crate::authn::require(caller, Action::ReadStats)?;
    let (packages, queues, connections, members) = tokio::join!(
        shared::packages::reads::counts(&state.pool),
        state.queues.depths(),
        state.cache.broadcaster_connections(),
        shared::pool_members::live(&state.pool),
    );
    let connections = connections.ok();
    let stats = Stats {
        packages: packages?,
        queues,
        websocket_connections: connections.map(|(total, _)| total),
        broadcaster_instances: connections.map(|(_, instances)| instances),
        package_workers: members?,
    };
    Ok(Reply::json(StatusCode::OK, &stats))
}
