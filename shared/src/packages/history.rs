//! Reading a package's events back: its status history (`status_events`)
//! and which seqs are numbered, of what kind (`package_events`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A creation or status change, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusEventRow {
    pub event_id: Uuid,
    /// Its number in the package's event sequence (`None` for rows from
    /// before sequences).
    pub seq: Option<i64>,
    pub status: String,
    /// `None` for the creation.
    pub previous_status: Option<String>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    /// Who made the change (an account id; `None` before accounts).
    pub principal: Option<String>,
}

const COLUMNS: &str = "event_id, seq, status, previous_status, location, latitude, longitude, \
    version, occurred_at, principal";

/// A package's status history, oldest first (at most `limit`).
pub async fn status_history(
    db: impl PgExecutor<'_>,
    package_id: Uuid,
    limit: i64,
) -> Result<Vec<StatusEventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM status_events WHERE package_id = $1 ORDER BY version LIMIT $2"
    ))
    .bind(package_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The status events numbered in `[from, end)`.
pub async fn statuses_between(
    db: impl PgExecutor<'_>,
    package_id: Uuid,
    from: i64,
    end: i64,
) -> Result<Vec<StatusEventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM status_events WHERE package_id = $1 AND seq >= $2 AND seq < $3"
    ))
    .bind(package_id)
    .bind(from)
    .bind(end)
    .fetch_all(db)
    .await
}

/// The seqs numbered in `[from, end)`, with their kind (`created`,
/// `status_changed`, `location`).
pub async fn numbered(
    db: impl PgExecutor<'_>,
    package_id: Uuid,
    from: i64,
    end: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, kind FROM package_events WHERE package_id = $1 AND seq >= $2 AND seq < $3",
    )
    .bind(package_id)
    .bind(from)
    .bind(end)
    .fetch_all(db)
    .await
}

/// Status events (creations included) of these packages: what a load test
/// counts to see nothing accepted was lost.
pub async fn count_status_events(
    db: impl PgExecutor<'_>,
    tracking_numbers: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM status_events se JOIN packages p ON p.id = se.package_id \
         WHERE p.tracking_number = ANY($1)",
    )
    .bind(tracking_numbers)
    .fetch_one(db)
    .await
}

/// Location points numbered for these packages (numbered a moment before
/// the location store has them: a cheap, indexed count of progress).
pub async fn count_numbered_points(
    db: impl PgExecutor<'_>,
    tracking_numbers: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM package_events pe JOIN packages p ON p.id = pe.package_id \
         WHERE p.tracking_number = ANY($1) AND pe.kind = 'location'",
    )
    .bind(tracking_numbers)
    .fetch_one(db)
    .await
}

/// One entry of the status history read (`GET /packages/{tn}/events`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusEventView {
    pub event_id: Uuid,
    pub status: String,
    pub previous_status: Option<String>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub version: i64,
    pub timestamp: DateTime<Utc>,
    /// The id of the account that made the change (`null` before accounts).
    pub actor: Option<String>,
    /// Its number in the package's event sequence (absent for changes
    /// from before sequences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

impl From<StatusEventRow> for StatusEventView {
    fn from(row: StatusEventRow) -> Self {
        Self {
            event_id: row.event_id,
            status: row.status,
            previous_status: row.previous_status,
            location: row.location,
            latitude: row.latitude,
            longitude: row.longitude,
            version: row.version,
            timestamp: row.occurred_at,
            actor: row.principal,
            seq: row.seq,
        }
    }
}
