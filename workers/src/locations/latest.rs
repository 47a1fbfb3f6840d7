//! The latest positions in MongoDB (the 2dsphere-indexed collection behind
//! the geo queries), advanced only by a newer `recorded_at`: a round of
//! packages in one `update` command (docs/PITFALLS.md: the stand-in pays
//! per command, and on this collection about a millisecond per statement).

use super::projection::Position;
use super::store::{bson_time, geo_point, LocationStore, DUPLICATE_KEY};
use mongodb::bson::{doc, Bson, Document};

/// Upserts each position unless a newer one is stored.
pub async fn write(store: &LocationStore, positions: &[Position]) -> mongodb::error::Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let updates: Vec<Bson> = positions
        .iter()
        .map(|position| {
            let recorded_at = bson_time(position.last_seen_at);
            Bson::Document(doc! {
                // Matches only an older stored position; if a newer one is
                // stored, the upsert collides on _id (11000): the expected no-op.
                "q": { "_id": &position.tracking_number, "recorded_at": { "$lt": recorded_at } },
                "u": { "$set": {
                    "package_id": position.id.to_string(),
                    "location": geo_point(position.latitude, position.longitude),
                    "recorded_at": recorded_at,
                    "point_id": position.position_point_id.map(|id| id.to_string()),
                }},
                "upsert": true,
            })
        })
        .collect();
    let reply: Document = store
        .database
        .run_command(doc! {
            "update": store.latest.name(),
            "updates": updates,
            "ordered": false,
        })
        .await?;
    let unexpected: Vec<&Document> = reply
        .get_array("writeErrors")
        .map(|errors| {
            errors
                .iter()
                .filter_map(Bson::as_document)
                .filter(|e| e.get_i32("code").ok() != Some(DUPLICATE_KEY))
                .collect()
        })
        .unwrap_or_default();
    if let Some(error) = unexpected.first() {
        return Err(mongodb::error::Error::custom(format!(
            "latest position not written: {error}"
        )));
    }
    Ok(())
}
