//! Where subjects stand with zones, in PostgreSQL: `geofence_subjects`
//! (the last fix applied, locked while a window steps the subject) and
//! `geofence_presence` (sides that are not plainly outside), and the zone
//! revision the location workers watch.

use super::evaluate::Standing;
use chrono::{DateTime, Utc};
use shared::domain::Coordinates;
use shared::geofences::{Fix, Side};
use sqlx::{PgConnection, PgExecutor};
use std::collections::HashMap;
use uuid::Uuid;

pub use shared::geofences::revision::{bump_revision, revision};

/// A deleted zone is stood in by no one; returns who stood in it.
pub async fn forget_zone(db: impl PgExecutor<'_>, zone_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("DELETE FROM geofence_presence WHERE zone_id = $1 RETURNING subject_id")
        .bind(zone_id)
        .fetch_all(db)
        .await
}

/// A renamed zone's name beside every side of it; returns who stands in it.
pub async fn rename_zone(
    db: impl PgExecutor<'_>,
    zone_id: Uuid,
    name: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE geofence_presence SET zone_name = $2 WHERE zone_id = $1 RETURNING subject_id",
    )
    .bind(zone_id)
    .bind(name)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
struct SubjectRow {
    subject_id: Uuid,
    last_at: Option<DateTime<Utc>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_m: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct PresenceRow {
    subject_id: Uuid,
    zone_id: Uuid,
    inside: bool,
    pending_since: Option<DateTime<Utc>>,
    entered_at: Option<DateTime<Utc>>,
    dwelled: bool,
}

/// Locks the subjects (in id order, so concurrent windows cannot
/// deadlock; a new subject gets its row first) and reads where they stand.
pub async fn lock(
    tx: &mut PgConnection,
    subjects: &[Uuid],
) -> Result<HashMap<Uuid, Standing>, sqlx::Error> {
    let mut ids = subjects.to_vec();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query(
        "INSERT INTO geofence_subjects (subject_id) SELECT UNNEST($1::uuid[]) ORDER BY 1 \
         ON CONFLICT (subject_id) DO NOTHING",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<SubjectRow> = sqlx::query_as(
        "SELECT subject_id, last_at, latitude, longitude, accuracy_m FROM geofence_subjects \
         WHERE subject_id = ANY($1) ORDER BY subject_id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut standings: HashMap<Uuid, Standing> = rows
        .into_iter()
        .map(|row| {
            (
                row.subject_id,
                Standing {
                    last: last_fix(&row),
                    ..Standing::default()
                },
            )
        })
        .collect();
    let sides: Vec<PresenceRow> = sqlx::query_as(
        "SELECT subject_id, zone_id, inside, pending_since, entered_at, dwelled \
         FROM geofence_presence WHERE subject_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    for row in sides {
        if let Some(standing) = standings.get_mut(&row.subject_id) {
            standing.sides.insert(
                row.zone_id,
                Side {
                    inside: row.inside,
                    pending_since: row.pending_since,
                    entered_at: row.entered_at,
                    dwelled: row.dwelled,
                },
            );
        }
    }
    Ok(standings)
}

fn last_fix(row: &SubjectRow) -> Option<Fix> {
    let at = Coordinates::new(row.latitude?, row.longitude?).ok()?;
    Some(Fix {
        at,
        recorded_at: row.last_at?,
        accuracy_m: row.accuracy_m.unwrap_or(0.0),
    })
}

/// Stores where the subjects stand now; `names` gives each zone's name
/// (kept beside the side, for reads).
pub async fn store(
    tx: &mut PgConnection,
    standings: &HashMap<Uuid, Standing>,
    names: &HashMap<Uuid, String>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = standings.keys().copied().collect();
    let (mut last_ids, mut times, mut lats, mut lons, mut accuracies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, standing) in standings {
        if let Some(last) = standing.last {
            last_ids.push(*id);
            times.push(last.recorded_at);
            lats.push(last.at.latitude());
            lons.push(last.at.longitude());
            accuracies.push(last.accuracy_m);
        }
    }
    sqlx::query(
        "UPDATE geofence_subjects s SET last_at = v.t, latitude = v.lat, longitude = v.lon, accuracy_m = v.acc \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[]) \
             AS v(id, t, lat, lon, acc) \
         WHERE s.subject_id = v.id",
    )
    .bind(&last_ids)
    .bind(&times)
    .bind(&lats)
    .bind(&lons)
    .bind(&accuracies)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM geofence_presence WHERE subject_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    insert_sides(tx, standings, names).await
}

async fn insert_sides(
    tx: &mut PgConnection,
    standings: &HashMap<Uuid, Standing>,
    names: &HashMap<Uuid, String>,
) -> Result<(), sqlx::Error> {
    let (mut subjects, mut zones, mut zone_names) = (Vec::new(), Vec::new(), Vec::new());
    let (mut inside, mut pending, mut entered, mut dwelled) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (subject, standing) in standings {
        for (zone, side) in &standing.sides {
            subjects.push(*subject);
            zones.push(*zone);
            zone_names.push(names.get(zone).cloned().unwrap_or_default());
            inside.push(side.inside);
            pending.push(side.pending_since);
            entered.push(side.entered_at);
            dwelled.push(side.dwelled);
        }
    }
    if subjects.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO geofence_presence (subject_id, zone_id, zone_name, inside, pending_since, entered_at, dwelled) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::timestamptz[], $6::timestamptz[], $7::bool[])",
    )
    .bind(&subjects)
    .bind(&zones)
    .bind(&zone_names)
    .bind(&inside)
    .bind(&pending)
    .bind(&entered)
    .bind(&dwelled)
    .execute(&mut *tx)
    .await
    .map(drop)
}
