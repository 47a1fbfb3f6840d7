//! The MongoDB collections and their indexes.

use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database, IndexModel};

pub const HISTORY: &str = "location_history";
pub const LATEST: &str = "latest_positions";

/// MongoDB's duplicate-key error: for us, "this point is already stored" or
/// "the stored latest position is newer".
pub const DUPLICATE_KEY: i32 = 11000;

#[derive(Clone)]
pub struct LocationStore {
    pub database: Database,
    pub history: Collection<Document>,
    pub latest: Collection<Document>,
}

impl LocationStore {
    pub fn new(database: &Database) -> Self {
        Self {
            database: database.clone(),
            history: database.collection(HISTORY),
            latest: database.collection(LATEST),
        }
    }
}

/// Creates the indexes every query relies on; idempotent. The history gets no
/// 2dsphere index: it multiplies insert cost (docs/PITFALLS.md) and no
/// query needs it; the small latest-positions collection does.
pub async fn ensure_indexes(store: &LocationStore) -> mongodb::error::Result<()> {
    ensure_index(
        &store.history,
        doc! { "tracking_number": 1, "recorded_at": -1 },
    )
    .await?;
    ensure_index(&store.latest, doc! { "location": "2dsphere" }).await
}

/// Creates an index unless one with its keys exists. Checking first matters:
/// several workers start at once, and a server may store extra options (such
/// as `2dsphereIndexVersion`) that make a repeated create look like a conflict.
async fn ensure_index(
    collection: &Collection<Document>,
    keys: Document,
) -> mongodb::error::Result<()> {
    use futures_util::TryStreamExt;
    let existing: Vec<IndexModel> = match collection.list_indexes().await {
        Ok(cursor) => cursor.try_collect().await?,
        // The collection does not exist yet (NamespaceNotFound).
        Err(error) if matches!(error.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 26) => {
            Vec::new()
        }
        Err(error) => return Err(error),
    };
    if existing.iter().any(|index| index.keys == keys) {
        return Ok(());
    }
    match collection
        .create_index(IndexModel::builder().keys(keys).build())
        .await
    {
        Ok(_) => Ok(()),
        // Another worker created it between our check and our create.
        Err(error) if matches!(error.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 85 || c.code == 86) => {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// A GeoJSON point: longitude first.
pub fn geo_point(latitude: f64, longitude: f64) -> Document {
    doc! { "type": "Point", "coordinates": [longitude, latitude] }
}

pub fn bson_time(time: chrono::DateTime<chrono::Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(time.timestamp_millis())
}
