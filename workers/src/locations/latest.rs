//! The latest positions in MongoDB (the 2dsphere-indexed collection behind
//! the geo queries), advanced only by a newer `recorded_at`: a round of
//! packages in one `update` command (docs/PITFALLS.md: the stand-in pays
//! per command, and on this collection about a millisecond per statement).

use super::store::{LocationStore, DUPLICATE_KEY};
use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};
use shared::locations::stored::latest_upsert;
use uuid::Uuid;

/// A package's latest position as PostgreSQL holds it, to be written.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Position {
    pub id: Uuid,
    pub tracking_number: String,
    pub latitude: f64,
    pub longitude: f64,
    pub last_seen_at: DateTime<Utc>,
    pub position_point_id: Option<Uuid>,
}

/// Upserts each position unless a newer one is stored.
pub async fn write(store: &LocationStore, positions: &[Position]) -> mongodb::error::Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let updates: Vec<Bson> = positions
        .iter()
        .map(|position| {
            Bson::Document(latest_upsert(
                &position.tracking_number,
                position.id,
                (position.latitude, position.longitude),
                position.last_seen_at,
                position.position_point_id,
            ))
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
