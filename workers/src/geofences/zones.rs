//! The zones a location worker evaluates against, in memory
//! ([`ZoneIndex`]): loaded whole once, then only what changed, whenever
//! `geofence_revision` moves (zone writers bump it after writing MongoDB)
//! and at least every [`POLL`] in case a writer died between the two.
//!
//! Why memory and not a `$geoIntersects` query per fix: on SecantusDB a
//! 2dsphere query over 10,000 zones took ~0.8 s (docs/PERFORMANCE.md);
//! the grid index answers in microseconds and 10,000 zones take a few MB.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::doc;
use mongodb::Collection;
use shared::geofences::stored::{changed_since, GeofenceDoc};
use shared::geofences::ZoneIndex;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often zones are re-read even when the revision did not move.
const POLL: Duration = Duration::from_secs(30);
/// How often the zones are read whole (a zone removed from MongoDB without
/// a tombstone leaves memory then).
const FULL: Duration = Duration::from_secs(600);
/// How far back a reload looks past the last one: writers' clocks differ.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, thiserror::Error)]
pub enum ZoneCacheError {
    #[error("zone revision unavailable: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("zones unavailable: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

/// The zones as last loaded. The mutex is held only to copy or swap the
/// `Arc`, never across an `.await`.
pub struct ZoneCache {
    collection: Collection<GeofenceDoc>,
    loaded: Mutex<Loaded>,
}

#[derive(Clone, Default)]
struct Loaded {
    index: Arc<ZoneIndex>,
    revision: Option<i64>,
    /// When the last load began (by this worker's clock).
    watermark: Option<DateTime<Utc>>,
    at: Option<Instant>,
    /// When the zones were last read whole.
    full_at: Option<Instant>,
}

impl ZoneCache {
    pub fn new(collection: Collection<GeofenceDoc>) -> Self {
        Self {
            collection,
            loaded: Mutex::new(Loaded::default()),
        }
    }

    /// The zones now, reloading what changed if the revision moved.
    pub async fn current(&self, pool: &PgPool) -> Result<Arc<ZoneIndex>, ZoneCacheError> {
        let revision = super::standing::revision(pool).await?;
        let loaded = self.snapshot();
        let fresh =
            loaded.revision == Some(revision) && loaded.at.is_some_and(|at| at.elapsed() < POLL);
        if fresh {
            return Ok(loaded.index);
        }
        let began = Utc::now();
        let whole = loaded.full_at.is_none_or(|at| at.elapsed() >= FULL);
        let filter = match loaded.watermark {
            Some(watermark) if !whole => changed_since(watermark - OVERLAP),
            _ => doc! { "deleted": false },
        };
        let changed: Vec<GeofenceDoc> = self.collection.find(filter).await?.try_collect().await?;
        let mut index = if whole {
            ZoneIndex::default()
        } else {
            (*loaded.index).clone()
        };
        for document in &changed {
            match (document.zone_id(), document.zone()) {
                (_, Some(zone)) if !document.deleted => index.put(zone),
                (Some(id), _) => index.remove(&id),
                (None, _) => tracing::warn!(id = %document.id, "a zone document without a zone id"),
            }
        }
        let index = Arc::new(index);
        let mut slot = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        // Another window may have loaded meanwhile; the later load wins.
        if slot.watermark.is_none_or(|w| w <= began) {
            *slot = Loaded {
                index: Arc::clone(&index),
                revision: Some(revision),
                watermark: Some(began),
                at: Some(Instant::now()),
                full_at: if whole {
                    Some(Instant::now())
                } else {
                    loaded.full_at
                },
            };
        }
        Ok(index)
    }

    fn snapshot(&self) -> Loaded {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
