//! Location batches: history in MongoDB, latest position in PostgreSQL and
//! MongoDB, moving only forward in time.
//!
//! Order does not matter here, so any number of location workers share one
//! queue: a point's id is its `_id` in the history (a redelivery inserts
//! nothing), and the latest position is replaced only by a newer `recorded_at`
//! (a late upload never moves a package backwards).

mod history;
mod latest;
mod sequence;
pub mod store;

use shared::wire::{Event, LocationBatch, LocationPoint, LocationRecorded};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub use store::{ensure_indexes, LocationStore};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

impl LocationError {
    /// Everything but a permanent PostgreSQL error is worth retrying: MongoDB
    /// errors that mean "already stored" are filtered out before they get here.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Postgres(error) => crate::packages::is_transient(error),
            Self::Mongo(_) => true,
        }
    }
}

/// What applying a batch produced.
pub struct AppliedBatch {
    pub events: Vec<Event>,
    /// Packages whose latest position moved (their cached views are stale).
    pub moved: Vec<String>,
    /// Points naming no known package: dead-lettered, not dropped.
    pub unknown: Vec<LocationPoint>,
}

pub async fn apply(
    pool: &PgPool,
    store: &LocationStore,
    batch: &LocationBatch,
) -> Result<AppliedBatch, LocationError> {
    let packages = package_ids(pool, &batch.points).await?;
    let (known, unknown): (Vec<&LocationPoint>, Vec<&LocationPoint>) = batch
        .points
        .iter()
        .partition(|p| packages.contains_key(p.tracking_number.as_str()));

    let numbers = sequence::number(pool, &known, &packages).await?;
    history::insert(store, &known, &packages, &numbers).await?;
    let newest = newest_per_package(&known);
    let moved = latest::advance(pool, store, &newest, &packages).await?;

    let mut events: Vec<Event> = known
        .iter()
        .map(|point| {
            let is_latest = moved.contains(point.tracking_number.as_str())
                && newest
                    .get(point.tracking_number.as_str())
                    .is_some_and(|n| n.point_id == point.point_id);
            Event::LocationRecorded(LocationRecorded {
                point_id: point.point_id,
                package_id: packages[point.tracking_number.as_str()],
                tracking_number: point.tracking_number.clone(),
                coordinates: point.coordinates,
                address: point.address.as_ref().map(|a| a.as_str().to_owned()),
                recorded_at: point.recorded_at,
                is_latest,
                seq: numbers.get(&point.point_id).copied().unwrap_or_default(),
            })
        })
        .collect();
    // Published in this order on one channel, so subscribers see a batch's
    // points in their package's sequence, whatever order the device sent.
    events.sort_by_key(|e| match e {
        Event::LocationRecorded(point) => point.seq,
        _ => 0,
    });
    Ok(AppliedBatch {
        events,
        moved: moved.into_iter().collect(),
        unknown: unknown.into_iter().cloned().collect(),
    })
}

async fn package_ids(
    pool: &PgPool,
    points: &[LocationPoint],
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    let numbers: Vec<&str> = points
        .iter()
        .map(|p| p.tracking_number.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, tracking_number FROM packages WHERE tracking_number = ANY($1)")
            .bind(&numbers)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, tn)| (tn, id)).collect())
}

/// The newest point of each package in the batch (ties: the larger point id,
/// so every worker picks the same one).
fn newest_per_package<'a>(points: &[&'a LocationPoint]) -> HashMap<&'a str, &'a LocationPoint> {
    let mut newest: HashMap<&str, &LocationPoint> = HashMap::new();
    for &point in points {
        newest
            .entry(point.tracking_number.as_str())
            .and_modify(|current| {
                if (point.recorded_at, point.point_id) > (current.recorded_at, current.point_id) {
                    *current = point;
                }
            })
            .or_insert(point);
    }
    newest
}
