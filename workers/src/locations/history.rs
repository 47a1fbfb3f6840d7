//! Storing a window's points in the history ([`HistoryDoc`]), in unordered
//! `insert_many` commands of [`CHUNK`].

use super::numbering::Numbered;
use super::store::{LocationStore, DUPLICATE_KEY};
use mongodb::error::ErrorKind;
use shared::locations::stored::HistoryDoc;
use shared::wire::LocationPoint;

pub async fn insert(
    store: &LocationStore,
    points: &[&LocationPoint],
    numbered: &Numbered,
) -> mongodb::error::Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let documents: Vec<HistoryDoc> = points
        .iter()
        .map(|p| {
            let package = numbered.packages.get(p.tracking_number.as_str());
            let seq = numbered.seqs.get(&p.point_id).copied().unwrap_or_default();
            HistoryDoc::new(p, package.map(|k| k.id), seq)
        })
        .collect();
    insert_unordered(&store.history, documents).await
}

/// Inserts documents keyed by point id in unordered chunks of [`CHUNK`]; a
/// document already stored (a redelivery) is no error.
pub(crate) async fn insert_unordered<T>(
    collection: &mongodb::Collection<T>,
    documents: Vec<T>,
) -> mongodb::error::Result<()>
where
    T: serde::Serialize + Clone + Send + Sync,
{
    for chunk in documents.chunks(CHUNK) {
        insert_chunk(collection, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Documents per `insert` command: a window may hold tens of thousands of
/// points, and one huge command would hold the MongoDB stand-in (a single
/// thread) for seconds while the latest positions and the reads wait.
const CHUNK: usize = 1000;

async fn insert_chunk<T>(
    collection: &mongodb::Collection<T>,
    documents: Vec<T>,
) -> mongodb::error::Result<()>
where
    T: serde::Serialize + Send + Sync,
{
    match collection.insert_many(documents).ordered(false).await {
        Ok(_) => Ok(()),
        Err(error) => match error.kind.as_ref() {
            // Unordered: the others were inserted; duplicates are redeliveries.
            ErrorKind::InsertMany(failure)
                if failure.write_concern_error.is_none()
                    && failure
                        .write_errors
                        .as_ref()
                        .is_some_and(|errors| errors.iter().all(|e| e.code == DUPLICATE_KEY)) =>
            {
                Ok(())
            }
            _ => Err(error),
        },
    }
}
