//! The PostgreSQL queries behind the read endpoints.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::auth::access::visible_filter;
use shared::auth::Caller;
use shared::domain::{PackageStatus, PackageView};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn package(
    pool: &PgPool,
    tracking_number: &str,
) -> Result<Option<PackageView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM packages WHERE tracking_number = $1",
        PackageView::COLUMNS
    ))
    .bind(tracking_number)
    .fetch_optional(pool)
    .await
}

/// A package's last numbered event (`since_seq` for live updates after it);
/// `None` when there is no such package.
pub async fn event_seq(pool: &PgPool, tracking_number: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
        .bind(tracking_number)
        .fetch_optional(pool)
        .await
}

/// A position in the newest-first listing: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let (micros, id) = raw.split_once('_')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    /// Where the next page starts, when this one is full (`None`: it is the
    /// last). `key`: a row's `(created_at, id)`.
    pub fn after_full_page<T>(
        rows: &[T],
        limit: i64,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Option<Self> {
        let last = rows.last().filter(|_| rows.len() as i64 == limit)?;
        let (created_at, id) = key(last);
        Some(Self { created_at, id })
    }

    /// The `Link` header to the next page: `base` is the listing's path and
    /// query without the cursor.
    pub fn link(&self, base: &str) -> String {
        format!("<{base}&cursor={}>; rel=\"next\"", self.encode())
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        Self::parse(raw).ok_or(())
    }
}

pub async fn list_packages(
    pool: &PgPool,
    caller: &Caller,
    status: Option<PackageStatus>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<PackageView>, sqlx::Error> {
    // Two shapes so each uses its index: (created_at, id) or (status, created_at, id).
    let filter = if status.is_some() {
        "status = $1 AND"
    } else {
        "$1::text IS NULL AND"
    };
    // Customers and couriers list only what they may see.
    let visible = visible_filter(caller.role, "$5", "$6")
        .map(|condition| format!("{condition} AND"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT {} FROM packages p WHERE {visible} {filter} ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4",
        PackageView::COLUMNS
    );
    sqlx::query_as(&sql)
        .bind(status.map(PackageStatus::as_str))
        .bind(after.map(|c| c.created_at))
        .bind(after.map(|c| c.id))
        .bind(limit)
        .bind(caller.user_id)
        .bind(caller.email.as_ref().map(|e| e.as_str()))
        .fetch_all(pool)
        .await
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
}

/// The status history oldest first; `None` when the package does not exist.
pub async fn status_events(
    pool: &PgPool,
    tracking_number: &str,
    limit: i64,
) -> Result<Option<Vec<StatusEventView>>, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM packages WHERE tracking_number = $1")
        .bind(tracking_number)
        .fetch_optional(pool)
        .await?;
    let Some(id) = id else { return Ok(None) };
    let events = sqlx::query_as(
        "SELECT event_id, status, previous_status, location, latitude, longitude, version, occurred_at AS timestamp, principal AS actor \
         FROM status_events WHERE package_id = $1 ORDER BY version LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Some(events))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackageCounts {
    pub total_packages: i64,
    pub packages_today: i64,
    /// Packages by status; every status is present.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub status_counts: std::collections::BTreeMap<&'static str, i64>,
}

pub async fn stats(pool: &PgPool) -> Result<PackageCounts, sqlx::Error> {
    let (total, today): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') \
         FROM packages",
    )
    .fetch_one(pool)
    .await?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM packages GROUP BY status")
            .fetch_all(pool)
            .await?;
    let mut status_counts: std::collections::BTreeMap<&'static str, i64> =
        PackageStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (status, count) in rows {
        if let Ok(status) = status.parse::<PackageStatus>() {
            status_counts.insert(status.as_str(), count);
        }
    }
    Ok(PackageCounts {
        total_packages: total,
        packages_today: today,
        status_counts,
    })
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_roundtrip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::parse("nope"), None);
        assert_eq!(Cursor::parse("12_notauuid"), None);
    }
}
