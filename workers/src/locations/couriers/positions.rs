//! The PostgreSQL side of a window's courier reports: one statement moves
//! each courier's row forward (newest fix by `recorded_at`, last heard by
//! arrival, battery, presence back to `online`) and says whether that
//! brought it online. (Not from a CTE locking the row the same statement
//! updates: it returned no row, so every window looked like a first report
//! and announced `online` again. `presence_changed_at` moves to `now()`,
//! the transaction's time, exactly when presence changes.)

use chrono::{DateTime, Utc};
use shared::couriers::CourierPoint;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// What one courier's row came to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Advanced {
    pub courier_id: Uuid,
    /// The point of the stored latest fix after this window.
    pub point_id: Option<Uuid>,
    pub heard_at: DateTime<Utc>,
    pub battery_pct: Option<f64>,
    /// Whether this window brought it online (its first report ever, or
    /// the first since it went stale or offline).
    pub came_online: bool,
}

/// Of each courier's reports in the window: the newest fix, the last
/// arrival and the last battery reading.
#[derive(Default)]
struct Summary<'a> {
    newest_fix: Option<&'a CourierPoint>,
    last_heard: Option<&'a CourierPoint>,
    battery: Option<&'a CourierPoint>,
}

fn summarise<'a>(points: &[&'a CourierPoint]) -> HashMap<Uuid, Summary<'a>> {
    let mut by_courier: HashMap<Uuid, Summary<'a>> = HashMap::new();
    for &point in points {
        let summary = by_courier.entry(point.courier_id).or_default();
        let later = |p: &CourierPoint| (p.received_at, p.point_id);
        if point.coordinates.is_some()
            && summary
                .newest_fix
                .is_none_or(|n| (point.recorded_at, point.point_id) > (n.recorded_at, n.point_id))
        {
            summary.newest_fix = Some(point);
        }
        if summary.last_heard.is_none_or(|n| later(point) > later(n)) {
            summary.last_heard = Some(point);
        }
        if point.battery.is_some() && summary.battery.is_none_or(|n| later(point) > later(n)) {
            summary.battery = Some(point);
        }
    }
    by_courier
}

/// A fix newer than the stored one (the `newer` of every column).
const NEWER: &str = "(EXCLUDED.recorded_at IS NOT NULL AND (c.recorded_at IS NULL OR EXCLUDED.recorded_at > c.recorded_at))";

fn advance_sql() -> String {
    format!("WITH v AS ( \
    SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::float8[], $5::float8[], \
        $6::timestamptz[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::bool[], \
        $12::timestamptz[]) \
    AS v(courier_id, device_id, point_id, lat, lon, t, acc, spd, hdg, batt, chg, heard) \
), up AS ( \
    INSERT INTO courier_positions AS c (courier_id, device_id, point_id, latitude, longitude, \
        recorded_at, accuracy_m, speed_mps, heading_deg, battery_pct, charging, heard_at, \
        presence, presence_changed_at) \
    SELECT courier_id, device_id, point_id, lat, lon, t, acc, spd, hdg, batt, chg, heard, \
        'online', now() FROM v \
    ON CONFLICT (courier_id) DO UPDATE SET \
        point_id = CASE WHEN {NEWER} THEN EXCLUDED.point_id ELSE c.point_id END, \
        latitude = CASE WHEN {NEWER} THEN EXCLUDED.latitude ELSE c.latitude END, \
        longitude = CASE WHEN {NEWER} THEN EXCLUDED.longitude ELSE c.longitude END, \
        recorded_at = CASE WHEN {NEWER} THEN EXCLUDED.recorded_at ELSE c.recorded_at END, \
        accuracy_m = CASE WHEN {NEWER} THEN EXCLUDED.accuracy_m ELSE c.accuracy_m END, \
        speed_mps = CASE WHEN {NEWER} THEN EXCLUDED.speed_mps ELSE c.speed_mps END, \
        heading_deg = CASE WHEN {NEWER} THEN EXCLUDED.heading_deg ELSE c.heading_deg END, \
        version = c.version + CASE WHEN {NEWER} THEN 1 ELSE 0 END, \
        battery_pct = COALESCE(EXCLUDED.battery_pct, c.battery_pct), \
        charging = CASE WHEN EXCLUDED.battery_pct IS NULL THEN c.charging ELSE EXCLUDED.charging END, \
        device_id = COALESCE(EXCLUDED.device_id, c.device_id), \
        heard_at = GREATEST(c.heard_at, EXCLUDED.heard_at), \
        presence = 'online', \
        presence_changed_at = CASE WHEN c.presence = 'online' THEN c.presence_changed_at ELSE now() END \
    RETURNING c.courier_id, c.point_id, c.heard_at, c.battery_pct, \
        c.presence_changed_at = now() AS came_online \
) \
SELECT courier_id, point_id, heard_at, battery_pct, came_online FROM up")
}

/// Moves each courier's row forward with the window's reports.
pub async fn advance(
    pool: &PgPool,
    points: &[&CourierPoint],
) -> Result<Vec<Advanced>, sqlx::Error> {
    let summaries = summarise(points);
    if summaries.is_empty() {
        return Ok(Vec::new());
    }
    // Rows in courier order: two windows lock them in the same order.
    let mut summaries: Vec<_> = summaries.into_iter().collect();
    summaries.sort_unstable_by_key(|(courier_id, _)| *courier_id);
    let mut columns = Columns::default();
    for (courier_id, summary) in &summaries {
        columns.push(*courier_id, summary);
    }
    let sql = advance_sql();
    columns.bind(sqlx::query_as(&sql)).fetch_all(pool).await
}

#[derive(Default)]
struct Columns {
    courier: Vec<Uuid>,
    device: Vec<Option<Uuid>>,
    point: Vec<Option<Uuid>>,
    lat: Vec<Option<f64>>,
    lon: Vec<Option<f64>>,
    time: Vec<Option<DateTime<Utc>>>,
    accuracy: Vec<Option<f64>>,
    speed: Vec<Option<f64>>,
    heading: Vec<Option<f64>>,
    battery: Vec<Option<f64>>,
    charging: Vec<Option<bool>>,
    heard: Vec<DateTime<Utc>>,
}

impl Columns {
    fn push(&mut self, courier_id: Uuid, summary: &Summary<'_>) {
        let fix = summary.newest_fix;
        let coordinates = fix.and_then(|f| f.coordinates);
        let measurements = fix.map(|f| f.measurements).unwrap_or_default();
        let battery = summary.battery.and_then(|b| b.battery);
        self.courier.push(courier_id);
        self.device
            .push(summary.last_heard.and_then(|p| p.device_id));
        self.point.push(fix.map(|f| f.point_id));
        self.lat.push(coordinates.map(|c| c.latitude()));
        self.lon.push(coordinates.map(|c| c.longitude()));
        self.time.push(fix.map(|f| f.recorded_at));
        self.accuracy.push(measurements.accuracy_m);
        self.speed.push(measurements.speed_mps);
        self.heading.push(measurements.heading_deg);
        self.battery.push(battery.map(|b| b.level_pct));
        self.charging.push(battery.and_then(|b| b.charging));
        self.heard.push(
            summary
                .last_heard
                .map(|p| p.received_at)
                .unwrap_or_else(Utc::now),
        );
    }

    fn bind<'q>(
        self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, Advanced, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, Advanced, sqlx::postgres::PgArguments> {
        query
            .bind(self.courier)
            .bind(self.device)
            .bind(self.point)
            .bind(self.lat)
            .bind(self.lon)
            .bind(self.time)
            .bind(self.accuracy)
            .bind(self.speed)
            .bind(self.heading)
            .bind(self.battery)
            .bind(self.charging)
            .bind(self.heard)
    }
}
