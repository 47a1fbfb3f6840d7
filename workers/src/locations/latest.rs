//! The latest positions in MongoDB (the 2dsphere-indexed collection behind
//! the geo queries), advanced only by a newer `recorded_at`: every package of
//! a window in one `update` command (../shared/PITFALLS.md: the stand-in pays
//! per command, not per statement).

use super::numbering::Numbered;
use super::store::{bson_time, geo_point, LocationStore, DUPLICATE_KEY};
use mongodb::bson::{doc, Bson, Document};
use shared::wire::LocationPoint;
use std::collections::HashMap;

/// Upserts each package's newest point of the window unless a newer one is
/// stored. Every package is sent, moved in PostgreSQL or not: a retried window
/// may have committed PostgreSQL before MongoDB failed.
pub async fn advance(
    store: &LocationStore,
    newest: &HashMap<&str, &LocationPoint>,
    numbered: &Numbered,
) -> mongodb::error::Result<()> {
    if newest.is_empty() {
        return Ok(());
    }
    let updates: Vec<Bson> = newest
        .iter()
        .map(|(tn, point)| {
            let recorded_at = bson_time(point.recorded_at);
            Bson::Document(doc! {
                // Matches only an older stored position; if a newer one is
                // stored, the upsert collides on _id (11000): the expected no-op.
                "q": { "_id": *tn, "recorded_at": { "$lt": recorded_at } },
                "u": { "$set": {
                    "package_id": numbered.packages.get(*tn).map(|p| p.id.to_string()),
                    "location": geo_point(point.coordinates.latitude(), point.coordinates.longitude()),
                    "recorded_at": recorded_at,
                    "point_id": point.point_id.to_string(),
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
