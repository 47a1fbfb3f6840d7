//! Reading packages: one by number, a caller's listing, the counts.

use super::PackageView;
use crate::auth::access::visible_filter;
use crate::auth::Caller;
use crate::domain::PackageStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use std::collections::BTreeMap;
use uuid::Uuid;

/// One package, with the zones it is in.
pub async fn view(
    db: impl PgExecutor<'_> + Copy,
    tracking_number: &str,
) -> Result<Option<PackageView>, sqlx::Error> {
    let view: Option<PackageView> = sqlx::query_as(&format!(
        "SELECT {} FROM packages WHERE tracking_number = $1",
        PackageView::COLUMNS
    ))
    .bind(tracking_number)
    .fetch_optional(db)
    .await?;
    let Some(mut view) = view else {
        return Ok(None);
    };
    view.zones = Some(crate::geofences::presence::zones_in(db, view.id).await?);
    Ok(Some(view))
}

/// A package's last numbered event (`since_seq` for live updates after it);
/// `None` when there is no such package.
pub async fn head(
    db: impl PgExecutor<'_>,
    tracking_number: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
        .bind(tracking_number)
        .fetch_optional(db)
        .await
}

/// A package's id and last numbered event.
pub async fn id_and_head(
    db: impl PgExecutor<'_>,
    tracking_number: &str,
) -> Result<Option<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT id, event_seq FROM packages WHERE tracking_number = $1")
        .bind(tracking_number)
        .fetch_optional(db)
        .await
}

/// The last numbered event of each of these packages that exists.
pub async fn heads(
    db: impl PgExecutor<'_>,
    tracking_numbers: &[String],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tracking_number, event_seq FROM packages WHERE tracking_number = ANY($1)",
    )
    .bind(tracking_numbers)
    .fetch_all(db)
    .await
}

/// One page of a caller's packages, newest first: those `after` the last
/// row of the previous page (its `(created_at, id)`), with `status` if given.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    status: Option<PackageStatus>,
    after: Option<(DateTime<Utc>, Uuid)>,
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
        .bind(after.map(|(created_at, _)| created_at))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .bind(caller.user_id)
        .bind(caller.email.as_ref().map(|e| e.as_str()))
        .fetch_all(db)
        .await
}

/// The original API's package counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackageCounts {
    pub total_packages: i64,
    pub packages_today: i64,
    /// Packages by status; every status is present.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub status_counts: BTreeMap<&'static str, i64>,
}

/// The counts, from the counters the package triggers keep
/// (`package_counts` plus the changes not folded into it yet, see the
/// migration `package_counts`): a few dozen rows whatever the table's size.
pub async fn counts(db: impl PgExecutor<'_>) -> Result<PackageCounts, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "WITH today AS (SELECT 'day:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS key) \
         SELECT c.key, sum(c.n)::int8 FROM ( \
             SELECT key, n FROM package_counts \
             UNION ALL SELECT key, delta FROM package_count_changes \
         ) c, today \
         WHERE c.key LIKE 'status:%' OR c.key = today.key \
         GROUP BY c.key",
    )
    .fetch_all(db)
    .await?;
    let mut status_counts: BTreeMap<&'static str, i64> =
        PackageStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut packages_today = 0;
    for (key, count) in rows {
        match key.split_once(':') {
            Some(("status", status)) => {
                if let Ok(status) = status.parse::<PackageStatus>() {
                    status_counts.insert(status.as_str(), count);
                }
            }
            Some(("day", _)) => packages_today = count,
            _ => {}
        }
    }
    Ok(PackageCounts {
        total_packages: status_counts.values().sum(),
        packages_today,
        status_counts,
    })
}

/// The ids of those of these packages that exist, by tracking number.
pub async fn ids(
    db: impl PgExecutor<'_>,
    tracking_numbers: &[&str],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as("SELECT tracking_number, id FROM packages WHERE tracking_number = ANY($1)")
        .bind(tracking_numbers)
        .fetch_all(db)
        .await
}
