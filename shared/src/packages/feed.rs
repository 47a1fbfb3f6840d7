//! What the every-package feed reads: the packages changed since a
//! transaction horizon (each row records the transaction that last changed
//! it, `changed_xid`, kept by a trigger), as they stand now. The horizon
//! itself, and the snapshot these reads share, are the broadcaster's
//! (`broadcaster/src/feed.rs`).

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

/// The packages changed by transaction `since` or a later one (at most `limit`).
pub async fn changed_since(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Vec<StateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {STATE_COLUMNS} FROM packages WHERE changed_xid >= $1 LIMIT $2"
    ))
    .bind(since)
    .bind(limit)
    .fetch_all(tx)
    .await
}

/// The number and last seq of each package changed by transaction `since`
/// or a later one (at most `limit`).
pub async fn changed_heads(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tracking_number, event_seq FROM packages WHERE changed_xid >= $1 LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(tx)
    .await
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
