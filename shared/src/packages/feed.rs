//! What the every-package feed reads: the packages changed since a
//! transaction horizon, as they stand now. Which packages changed comes
//! from the change log triggers on `packages` write (one entry per
//! statement: its transaction and the tracking numbers whose visible state
//! it changed; kept about an hour). The horizon itself, and the snapshot
//! these reads share, are the broadcaster's (`broadcaster/src/feed.rs`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A package as a resuming feed client gets it.
#[derive(Debug, sqlx::FromRow)]
pub struct StateRow {
    pub tracking_number: String,
    pub event_seq: i64,
    pub status: String,
    pub current_location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub updated_at: DateTime<Utc>,
}

const STATE_COLUMNS: &str =
    "tracking_number, event_seq, status, current_location, latitude, longitude, updated_at";

/// The tracking numbers the change log lists for transaction `since` or a
/// later one (each once), as an array. The log is read by its xid index:
/// the cost is what changed since, not the size of `packages`. An array
/// (`= ANY(ARRAY(...))`) rather than `IN (subquery)`: the packages are then
/// always fetched by key, where a semi-join may scan the whole table when
/// the planner's statistics are stale (`dt-bench scale` saw a resume of 114
/// packages take 152 ms at a million packages, right after its bulk fill).
const CHANGED: &str = "ARRAY(SELECT DISTINCT unnest(tracking_numbers) FROM package_change_log \
                       WHERE xid >= $1)";

/// Whether the change log still holds every change of transaction `since`
/// and later (older entries are pruned after about an hour).
async fn log_reaches(tx: &mut PgConnection, since: i64) -> Result<bool, sqlx::Error> {
    let below: Option<i64> = sqlx::query_scalar("SELECT below FROM package_change_log_pruned")
        .fetch_optional(&mut *tx)
        .await?;
    Ok(below.is_none_or(|below| since >= below))
}

/// The packages changed by transaction `since` or a later one, as they stand
/// (at most `limit`); `None` when the log no longer reaches back to `since`.
pub async fn changed_since(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Option<Vec<StateRow>>, sqlx::Error> {
    if !log_reaches(tx, since).await? {
        return Ok(None);
    }
    sqlx::query_as(&format!(
        "SELECT {STATE_COLUMNS} FROM packages WHERE tracking_number = ANY({CHANGED}) LIMIT $2"
    ))
    .bind(since)
    .bind(limit)
    .fetch_all(tx)
    .await
    .map(Some)
}

/// The number and last seq of each package changed by transaction `since`
/// or a later one (at most `limit`); `None` when the log no longer reaches
/// back to `since`.
pub async fn changed_heads(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Option<Vec<(String, i64)>>, sqlx::Error> {
    if !log_reaches(tx, since).await? {
        return Ok(None);
    }
    sqlx::query_as(&format!(
        "SELECT tracking_number, event_seq FROM packages WHERE tracking_number = ANY({CHANGED}) \
         LIMIT $2"
    ))
    .bind(since)
    .bind(limit)
    .fetch_all(tx)
    .await
    .map(Some)
}

/// These packages as they stand.
pub async fn states_of(
    tx: &mut PgConnection,
    tracking_numbers: &[String],
) -> Result<Vec<StateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {STATE_COLUMNS} FROM packages WHERE tracking_number = ANY($1)"
    ))
    .bind(tracking_numbers)
    .fetch_all(tx)
    .await
}
