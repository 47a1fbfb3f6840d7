//! Reading couriers' positions and packages' stretches aboard them from
//! PostgreSQL (`courier_positions`, `package_carriage`).

use super::presence::{Presence, PresenceRules};
use super::stored::Stretch;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A courier as dispatchers see them: their latest position, when it was
/// taken, what their device last said, and whether it is with us.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CourierView {
    pub id: Uuid,
    pub name: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// When the latest fix was taken.
    pub last_fix_at: Option<DateTime<Utc>>,
    /// When the device last reported (a fix or not).
    pub heard_at: Option<DateTime<Utc>>,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub battery_pct: Option<f64>,
    pub charging: Option<bool>,
    pub device_id: Option<Uuid>,
    /// `null` for a courier never heard from.
    #[sqlx(skip)]
    pub presence: Option<Presence>,
    /// The geofences the courier is in now; `null` in listings.
    #[sqlx(skip)]
    pub zones: Option<Vec<crate::geofences::ZoneIn>>,
}

const COLUMNS: &str = "u.id, u.name, c.latitude, c.longitude, c.recorded_at AS last_fix_at, \
    c.heard_at, c.speed_mps, c.heading_deg, c.accuracy_m, c.battery_pct, c.charging, c.device_id";

impl CourierView {
    /// Presence now, from when the device was last heard.
    fn with_presence(mut self, rules: &PresenceRules, now: DateTime<Utc>) -> Self {
        self.presence = self.heard_at.map(|heard| rules.at(heard, now));
        self
    }
}

/// Enabled couriers by name (then id), after `after` (the last of the
/// previous page), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    rules: &PresenceRules,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<CourierView>, sqlx::Error> {
    let rows: Vec<CourierView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN courier_positions c ON c.courier_id = u.id \
         WHERE u.role = 'courier' AND u.disabled_at IS NULL \
           AND ($1::text IS NULL OR (u.name, u.id) > ($1, $2)) \
         ORDER BY u.name, u.id LIMIT $3"
    ))
    .bind(after.map(|(name, _)| name))
    .bind(after.map(|(_, id)| id))
    .bind(limit)
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|r| r.with_presence(rules, now))
        .collect())
}

/// One courier (any courier account, enabled or not), `None` if there is
/// no such courier.
pub async fn one(
    db: impl PgExecutor<'_> + Copy,
    rules: &PresenceRules,
    courier_id: Uuid,
) -> Result<Option<CourierView>, sqlx::Error> {
    let row: Option<CourierView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN courier_positions c ON c.courier_id = u.id \
         WHERE u.id = $1 AND u.role = 'courier'"
    ))
    .bind(courier_id)
    .fetch_optional(db)
    .await?;
    let Some(mut view) = row else {
        return Ok(None);
    };
    view.zones = Some(crate::geofences::presence::zones_in(db, courier_id).await?);
    Ok(Some(view.with_presence(rules, Utc::now())))
}

/// Whether there is a courier account with this id.
pub async fn exists(db: impl PgExecutor<'_>, courier_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'courier')")
        .bind(courier_id)
        .fetch_one(db)
        .await
}

/// A package's stretches aboard couriers, the newest 100 (a package changes
/// hands a few times, not thousands).
pub async fn stretches(
    db: impl PgExecutor<'_>,
    package_id: Uuid,
) -> Result<Vec<Stretch>, sqlx::Error> {
    sqlx::query_as(
        "SELECT courier_id, since_at, until_at FROM package_carriage \
         WHERE package_id = $1 ORDER BY since_at DESC LIMIT 100",
    )
    .bind(package_id)
    .fetch_all(db)
    .await
}
