//! This instance's count of open connections, reported to Redis every few
//! seconds (with a lifetime, so a crashed instance stops counting) for
//! ingest's `/api/v1/stats`, which sums the instances.

use crate::hub::Hub;
use shared::cache::ViewCache;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(2);
/// A report lapses after this long without a new one.
const LIFETIME: Duration = Duration::from_secs(10);

/// Reports until `stop`, then withdraws the report.
pub fn spawn(cache: ViewCache, hub: Arc<Hub>, stop: CancellationToken) -> JoinHandle<()> {
    let instance = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let connections = hub.metrics.connections.get();
            if let Err(error) = cache
                .report_connections(&instance, connections, LIFETIME)
                .await
            {
                tracing::debug!(%error, "cannot report connections to Redis");
            }
        }
        let _ = cache.withdraw_connections(&instance).await;
    })
}
