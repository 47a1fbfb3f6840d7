//! The MongoDB collections and their indexes.

use mongodb::bson::Document;
use mongodb::{Collection, Database, IndexModel};
use shared::couriers::stored::{self as courier_stored, CourierHistoryDoc, COURIER_HISTORY};
use shared::locations::stored::{self, HistoryDoc, HISTORY, LATEST};

/// MongoDB's duplicate-key error: for us, "this point is already stored" or
/// "the stored latest position is newer".
pub const DUPLICATE_KEY: i32 = 11000;

#[derive(Clone)]
pub struct LocationStore {
    pub database: Database,
    pub history: Collection<HistoryDoc>,
    pub latest: Collection<Document>,
    /// Couriers' own fixes ([`courier_stored`]).
    pub courier_history: Collection<CourierHistoryDoc>,
    /// Zones ([`shared::geofences::stored`]): written by the package pool,
    /// read by the location pool.
    pub geofences: Collection<shared::geofences::stored::GeofenceDoc>,
}

impl LocationStore {
    pub fn new(database: &Database) -> Self {
        Self {
            database: database.clone(),
            history: database.collection(HISTORY),
            latest: database.collection(LATEST),
            courier_history: database.collection(COURIER_HISTORY),
            geofences: database.collection(shared::geofences::stored::GEOFENCES),
        }
    }
}

/// Creates the indexes every query relies on ([`stored::history_index`],
/// [`stored::latest_index`]); idempotent.
pub async fn ensure_indexes(store: &LocationStore) -> mongodb::error::Result<()> {
    ensure_index(&store.history, stored::history_index()).await?;
    ensure_index(&store.courier_history, courier_stored::history_index()).await?;
    ensure_index(&store.latest, stored::latest_index()).await?;
    ensure_index(&store.geofences, shared::geofences::stored::area_index()).await?;
    ensure_index(&store.geofences, shared::geofences::stored::updated_index()).await
}

/// Creates an index unless one with its keys exists. Checking first matters:
/// several workers start at once, and a server may store extra options (such
/// as `2dsphereIndexVersion`) that make a repeated create look like a conflict.
async fn ensure_index<T: Send + Sync>(
    collection: &Collection<T>,
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
