//! The location history: one document per point, `_id` = the point id, a
//! window's points in unordered `insert_many` commands of [`CHUNK`].

use super::numbering::Numbered;
use super::store::{bson_time, geo_point, LocationStore, DUPLICATE_KEY};
use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use shared::wire::LocationPoint;

pub async fn insert(
    store: &LocationStore,
    points: &[&LocationPoint],
    numbered: &Numbered,
) -> mongodb::error::Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let documents: Vec<Document> = points
        .iter()
        .map(|p| {
            let mut document = doc! {
                "_id": p.point_id.to_string(),
                "package_id": numbered.packages.get(p.tracking_number.as_str()).map(|k| k.id.to_string()),
                "tracking_number": p.tracking_number.as_str(),
                "location": geo_point(p.coordinates.latitude(), p.coordinates.longitude()),
                "recorded_at": bson_time(p.recorded_at),
                "received_at": bson_time(p.received_at),
                "seq": numbered.seqs.get(&p.point_id).copied().unwrap_or_default(),
            };
            let optional = [
                ("accuracy_m", p.accuracy_m),
                ("speed_mps", p.speed_mps),
                ("heading_deg", p.heading_deg),
            ];
            for (field, value) in optional {
                if let Some(value) = value {
                    document.insert(field, value);
                }
            }
            if let Some(address) = &p.address {
                document.insert("address", address.as_str());
            }
            document
        })
        .collect();
    for chunk in documents.chunks(CHUNK) {
        insert_chunk(store, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Documents per `insert` command: a window may hold tens of thousands of
/// points, and one huge command would hold the MongoDB stand-in (a single
/// thread) for seconds while the latest positions and the reads wait.
const CHUNK: usize = 1000;

async fn insert_chunk(
    store: &LocationStore,
    documents: Vec<Document>,
) -> mongodb::error::Result<()> {
    match store.history.insert_many(documents).ordered(false).await {
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
