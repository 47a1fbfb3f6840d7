//! Folds the package count changes the triggers on `packages` append
//! (`package_count_changes`) into `package_counts`, so a read of the counts
//! (`GET /api/v1/stats`) sums a few dozen rows, not the whole table and
//! not an ever longer list of changes. Runs in the package pool every
//! [`EVERY`]; replicas may fold at once (each folds only the changes it
//! deleted, and the counters are updated in key order: no deadlock).

use shared::backoff::sleep_unless_cancelled;
use sqlx::PgPool;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the changes are folded.
pub const EVERY: Duration = Duration::from_secs(2);

/// One fold: every committed change into its counter, in one transaction
/// (a read sees the changes or the counters that include them, never both
/// or neither); day counters older than yesterday go. The changes folded.
pub async fn fold(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let folded = sqlx::query(
        "WITH folded AS (DELETE FROM package_count_changes RETURNING key, delta) \
         INSERT INTO package_counts (key, n) \
         SELECT key, sum(delta)::int8 FROM folded GROUP BY key ORDER BY key \
         ON CONFLICT (key) DO UPDATE SET n = package_counts.n + EXCLUDED.n",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "DELETE FROM package_counts WHERE key LIKE 'day:%' \
         AND key < 'day:' || to_char(now() AT TIME ZONE 'UTC' - interval '1 day', 'YYYY-MM-DD')",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(folded)
}

/// Folds every [`EVERY`] until `stop`; the caller awaits the handle.
pub fn spawn(pool: PgPool, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = fold(&pool).await {
                tracing::warn!(%error, "folding package counts failed; the next pass retries");
            }
            if !sleep_unless_cancelled(EVERY, &stop).await {
                return;
            }
        }
    })
}
