//! Prunes the every-package feed's change log (`package_change_log`, written
//! by triggers on `packages`): entries older than [`KEPT`] go, and
//! `package_change_log_pruned` records the xid below which changes may be
//! missing, so the feed answers an older cursor "incomplete" rather than
//! resuming it with gaps. Runs in the package pool every [`EVERY`]; replicas
//! may prune at once (the horizon only rises).

use shared::backoff::sleep_unless_cancelled;
use sqlx::PgPool;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long changes stay resumable: a dashboard offline for longer reads its
/// list again. About what an hour of a busy pipeline's windows writes (one
/// row per statement), so the log stays small next to `packages`.
pub const KEPT: Duration = Duration::from_secs(3600);

/// How often the log is pruned.
pub const EVERY: Duration = Duration::from_secs(60);

/// One pass: the entries logged more than `kept` ago go, and the horizon
/// rises past the newest of them. The entries deleted.
pub async fn prune(pool: &PgPool, kept: Duration) -> Result<u64, sqlx::Error> {
    let (deleted,): (i64,) = sqlx::query_as(
        "WITH gone AS ( \
             DELETE FROM package_change_log \
             WHERE logged_at < now() - make_interval(secs => $1) RETURNING xid), \
         raised AS ( \
             UPDATE package_change_log_pruned \
             SET below = GREATEST(below, (SELECT max(xid) + 1 FROM gone)) \
             WHERE EXISTS (SELECT 1 FROM gone)) \
         SELECT count(*) FROM gone",
    )
    .bind(kept.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(deleted).unwrap_or_default())
}

/// Prunes every [`EVERY`] until `stop`; the caller awaits the handle.
pub fn spawn(pool: PgPool, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = prune(&pool, KEPT).await {
                tracing::warn!(%error, "pruning the package change log failed; the next pass retries");
            }
            if !sleep_unless_cancelled(EVERY, &stop).await {
                return;
            }
        }
    })
}
