//! The latest position, advanced only by a newer `recorded_at`.

use super::store::{bson_time, geo_point, LocationStore, DUPLICATE_KEY};
use super::LocationError;
use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use shared::wire::LocationPoint;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Moves each package to its newest point if that is newer than what is
/// stored. Returns the packages whose PostgreSQL position moved.
pub async fn advance(
    pool: &sqlx::PgPool,
    store: &LocationStore,
    newest: &HashMap<&str, &LocationPoint>,
    packages: &HashMap<String, Uuid>,
) -> Result<HashSet<String>, LocationError> {
    if newest.is_empty() {
        return Ok(HashSet::new());
    }
    let mut numbers = Vec::with_capacity(newest.len());
    let mut latitudes = Vec::with_capacity(newest.len());
    let mut longitudes = Vec::with_capacity(newest.len());
    let mut times = Vec::with_capacity(newest.len());
    for (tn, point) in newest {
        numbers.push(*tn);
        latitudes.push(point.coordinates.latitude());
        longitudes.push(point.coordinates.longitude());
        times.push(point.recorded_at);
    }
    // Under READ COMMITTED a concurrent worker's newer update is re-checked
    // against this WHERE after it commits, so the newest point always wins.
    let moved: Vec<String> = sqlx::query_scalar(
        "UPDATE packages p SET latitude = v.lat, longitude = v.lon, last_seen_at = v.t, \
             updated_at = GREATEST(p.updated_at, v.t) \
         FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::timestamptz[]) AS v(tn, lat, lon, t) \
         WHERE p.tracking_number = v.tn AND (p.last_seen_at IS NULL OR p.last_seen_at < v.t) \
         RETURNING p.tracking_number",
    )
    .bind(&numbers)
    .bind(&latitudes)
    .bind(&longitudes)
    .bind(&times)
    .fetch_all(pool)
    .await?;

    for (tn, point) in newest {
        let recorded_at = bson_time(point.recorded_at);
        let update = doc! { "$set": {
            "package_id": packages.get(*tn).map(Uuid::to_string),
            "location": geo_point(point.coordinates.latitude(), point.coordinates.longitude()),
            "recorded_at": recorded_at,
            "point_id": point.point_id.to_string(),
        }};
        // Matches only an older stored position; if a newer one is stored, the
        // upsert collides on _id (11000): the expected no-op.
        let filter = doc! { "_id": *tn, "recorded_at": { "$lt": recorded_at } };
        if let Err(error) = store.latest.update_one(filter, update).upsert(true).await {
            let newer_stored = matches!(
                error.kind.as_ref(),
                ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
            );
            if !newer_stored {
                return Err(error.into());
            }
        }
    }
    Ok(moved.into_iter().collect())
}
