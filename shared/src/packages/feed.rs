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

/// How many log entries (tracking numbers, repeats included: a package in
/// ten windows is listed ten times) a read takes per package it may send.
/// Past it, the read says "too many" without reading further: a cursor kept
/// from an hour ago must not make one request unnest the whole log.
const ENTRIES_PER_PACKAGE: i64 = 4;

/// The distinct tracking numbers the change log lists for transaction
/// `since` or later, read by the log's xid index (the cost is what changed
/// since, not the size of `packages`); `None` when the log no longer
/// reaches back to `since`, or lists more than `limit` ×
/// [`ENTRIES_PER_PACKAGE`] entries.
async fn changed_numbers(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    if !log_reaches(tx, since).await? {
        return Ok(None);
    }
    let cap = limit.saturating_mul(ENTRIES_PER_PACKAGE);
    let (listed, numbers): (i64, Vec<String>) = sqlx::query_as(
        "WITH listed AS MATERIALIZED ( \
             SELECT number FROM package_change_log, unnest(tracking_numbers) AS number \
             WHERE xid >= $1 LIMIT $2) \
         SELECT (SELECT count(*) FROM listed), ARRAY(SELECT DISTINCT number FROM listed)",
    )
    .bind(since)
    .bind(cap)
    .fetch_one(&mut *tx)
    .await?;
    Ok((listed < cap).then_some(numbers))
}

/// Whether the change log still holds every change of transaction `since`
/// and later (older entries are pruned after about an hour).
async fn log_reaches(tx: &mut PgConnection, since: i64) -> Result<bool, sqlx::Error> {
    let below: Option<i64> = sqlx::query_scalar("SELECT below FROM package_change_log_pruned")
        .fetch_optional(&mut *tx)
        .await?;
    Ok(below.is_none_or(|below| since >= below))
}

/// The packages changed by transaction `since` or a later one, as they stand
/// (at most `limit`); `None` when the log cannot say (see
/// [`changed_numbers`]). The packages are fetched by key (`= ANY`), never by
/// a join the planner could turn into a scan of the table.
pub async fn changed_since(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Option<Vec<StateRow>>, sqlx::Error> {
    let Some(numbers) = changed_numbers(tx, since, limit).await? else {
        return Ok(None);
    };
    sqlx::query_as(&format!(
        "SELECT {STATE_COLUMNS} FROM packages WHERE tracking_number = ANY($1) LIMIT $2"
    ))
    .bind(numbers)
    .bind(limit)
    .fetch_all(tx)
    .await
    .map(Some)
}

/// The number and last seq of each package changed by transaction `since`
/// or a later one (at most `limit`); `None` when the log cannot say.
pub async fn changed_heads(
    tx: &mut PgConnection,
    since: i64,
    limit: i64,
) -> Result<Option<Vec<(String, i64)>>, sqlx::Error> {
    let Some(numbers) = changed_numbers(tx, since, limit).await? else {
        return Ok(None);
    };
    sqlx::query_as(
        "SELECT tracking_number, event_seq FROM packages WHERE tracking_number = ANY($1) LIMIT $2",
    )
    .bind(numbers)
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
