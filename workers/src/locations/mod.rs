//! Location points, applied a window at a time: the points of every message a
//! consumer has waiting are merged, numbered and moved forward in one
//! PostgreSQL transaction, announced as one event per package, and written
//! to the MongoDB history in `insert_many` commands. MongoDB's latest
//! positions follow behind, projected from PostgreSQL in coalesced rounds.
//!
//! Order does not matter here, so any number of location workers share one
//! queue: a point's id is its `_id` in the history (a redelivery inserts
//! nothing), and the latest position is replaced only by a newer `recorded_at`
//! (a late upload never moves a package backwards).
//!
//! - [`numbering`]: the PostgreSQL transaction (sequence numbers, latest position);
//! - [`history`]: the MongoDB history writes;
//! - [`projection`], [`latest`]: the latest positions projected to MongoDB;
//! - [`store`]: the collections and their indexes;
//! - [`screening`]: the policy asked again for every point's poster;
//! - [`couriers`]: couriers' own reports, applied with the same window,
//!   and the presence sweep;
//! - [`flow`]: the pool's handler for the window runner; [`announce`]: the
//!   window's points announced once numbered, before the rest is written;
//!   [`audit`]: the trail of stored points.
//!
//! What a point is, how it is stored and rendered is the locations flow's
//! data in `shared::locations`.

mod announce;
mod audit;
pub mod couriers;
mod derived;
pub mod flow;
mod history;
mod latest;
mod numbering;
pub mod projection;
pub mod screening;
pub mod store;

use numbering::Numbered;
use shared::domain::TrackingNumber;
use shared::wire::{LocationPoint, LocationsRecorded, RecordedPoint};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

pub use store::{ensure_indexes, LocationStore};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("geofences: {0}")]
    Geofences(#[from] crate::geofences::GeofenceError),
    /// Announcing the numbered points stopped: shutdown, or the broker
    /// connection is gone (the session is stopping either way).
    #[error(transparent)]
    Abandoned(#[from] crate::publisher::Abandoned),
}

impl LocationError {
    /// Everything but a permanent PostgreSQL error is worth retrying: MongoDB
    /// errors that mean "already stored" are filtered out before they get here.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Postgres(error) => crate::packages::is_transient(error),
            // A document that cannot be encoded never will be: isolation
            // then finds the message that holds it and dead-letters it.
            Self::Mongo(error) => !matches!(
                error.kind.as_ref(),
                mongodb::error::ErrorKind::BsonSerialization(_)
                    | mongodb::error::ErrorKind::InvalidArgument { .. }
            ),
            Self::Geofences(error) => error.is_transient(),
            // The runner's stop is cancelled: retrying ends there, and the
            // window is abandoned (redelivered), never dead-lettered.
            Self::Abandoned(_) => true,
        }
    }
}

/// What applying a window's points produced.
#[derive(Default)]
pub struct AppliedPoints {
    /// One announcement per package, points in sequence order.
    pub events: Vec<LocationsRecorded>,
    /// Packages whose latest position moved, with their new version (their
    /// cached views are stale).
    pub moved: Vec<(String, i64)>,
    /// Points naming no known package (yet): retried later, then dead-lettered.
    pub unknown: HashSet<Uuid>,
    /// How long the writes took in each store (for the metrics).
    pub postgres_took: std::time::Duration,
    pub mongodb_took: std::time::Duration,
}

/// A window's points once PostgreSQL numbered them: their numbers, the
/// packages' latest positions and their announcements are decided and
/// committed; only their MongoDB history is still to be written
/// ([`NumberedWindow::store`]). What [`announce`] sends before that.
pub struct NumberedWindow<'p> {
    known: Vec<&'p LocationPoint>,
    numbered: Numbered,
    /// What the window comes to (its `mongodb_took` is set by `store`).
    pub applied: AppliedPoints,
}

/// Numbers the points in PostgreSQL (duplicates by id count once).
pub async fn number<'p>(
    pool: &PgPool,
    points: &[&'p LocationPoint],
) -> Result<NumberedWindow<'p>, sqlx::Error> {
    let mut seen = HashSet::with_capacity(points.len());
    let points: Vec<&LocationPoint> = points
        .iter()
        .copied()
        .filter(|p| seen.insert(p.point_id))
        .collect();
    let began = std::time::Instant::now();
    let mut numbered = numbering::number(pool, &points).await?;
    let (known, unknown): (Vec<&LocationPoint>, Vec<&LocationPoint>) = points
        .iter()
        .partition(|p| numbered.packages.contains_key(p.tracking_number.as_str()));
    let events = announced(&known, &numbered);
    // The history needs only the numbers and packages: the moves go on.
    let applied = AppliedPoints {
        events,
        moved: std::mem::take(&mut numbered.moved).into_iter().collect(),
        unknown: unknown.iter().map(|p| p.point_id).collect(),
        postgres_took: began.elapsed(),
        mongodb_took: std::time::Duration::ZERO,
    };
    Ok(NumberedWindow {
        known,
        numbered,
        applied,
    })
}

impl NumberedWindow<'_> {
    /// Writes the numbered points to the MongoDB history (a point stored
    /// before, by a redelivery, is no error).
    pub async fn store(self, store: &LocationStore) -> Result<AppliedPoints, LocationError> {
        let began = std::time::Instant::now();
        history::insert(store, &self.known, &self.numbered).await?;
        let mut applied = self.applied;
        applied.mongodb_took = began.elapsed();
        tracing::debug!(
            points = self.known.len(),
            packages = self.numbered.packages.len(),
            numbered_in = ?applied.postgres_took,
            history_in = ?applied.mongodb_took,
            "location window stored"
        );
        Ok(applied)
    }
}

/// One event per package for its stored points, in seq order; `is_latest`
/// marks the point that became the package's position.
fn announced(known: &[&LocationPoint], numbered: &Numbered) -> Vec<LocationsRecorded> {
    let newest = newest_per_package(known);
    let mut by_package: BTreeMap<&TrackingNumber, Vec<RecordedPoint>> = BTreeMap::new();
    for point in known {
        let tn = point.tracking_number.as_str();
        let is_latest = numbered.moved.contains_key(tn)
            && newest.get(tn).is_some_and(|n| n.point_id == point.point_id);
        by_package
            .entry(&point.tracking_number)
            .or_default()
            .push(RecordedPoint {
                point_id: point.point_id,
                coordinates: point.coordinates,
                address: point.address.as_ref().map(|a| a.as_str().to_owned()),
                measurements: point.measurements,
                recorded_at: point.recorded_at,
                is_latest,
                seq: numbered
                    .seqs
                    .get(&point.point_id)
                    .copied()
                    .unwrap_or_default(),
            });
    }
    by_package
        .into_iter()
        .filter_map(|(tn, mut points)| {
            let package = numbered.packages.get(tn.as_str())?;
            points.sort_by_key(|p| p.seq);
            Some(LocationsRecorded {
                package_id: package.id,
                tracking_number: tn.clone(),
                points,
            })
        })
        .collect()
}

/// The newest point of each package (ties: the larger point id, so every
/// worker picks the same one).
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
