//! What a reconnecting client missed: the events of one package after a given
//! seq, read from the stores (status history in PostgreSQL, location history
//! in MongoDB), merged in seq order.

use crate::update::{Data, PackageUpdate};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use sqlx::PgPool;
use uuid::Uuid;

/// The most events one replay sends; a client further behind reads the REST
/// history instead.
pub const MAX_REPLAY: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("status history unavailable: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("location history unavailable: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

/// A rendered replayed event.
pub struct Replayed {
    pub seq: i64,
    pub text: String,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    event_id: Uuid,
    seq: i64,
    status: String,
    previous_status: Option<String>,
    location: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    occurred_at: DateTime<Utc>,
}

pub async fn since(
    pool: &PgPool,
    history: &mongodb::Collection<Document>,
    tracking_number: &str,
    after_seq: i64,
) -> Result<Vec<Replayed>, ReplayError> {
    let rows: Vec<StatusRow> = sqlx::query_as(
        "SELECT se.event_id, se.seq, se.status, se.previous_status, se.location, se.latitude, se.longitude, se.occurred_at \
         FROM status_events se JOIN packages p ON p.id = se.package_id \
         WHERE p.tracking_number = $1 AND se.seq > $2 ORDER BY se.seq LIMIT $3",
    )
    .bind(tracking_number)
    .bind(after_seq)
    .bind(MAX_REPLAY)
    .fetch_all(pool)
    .await?;
    let mut replayed: Vec<Replayed> = rows
        .iter()
        .filter_map(|row| {
            let kind = if row.previous_status.is_none() {
                "created"
            } else {
                "status_changed"
            };
            let data = Data {
                status: Some(row.status.as_str()),
                location: row.location.as_deref(),
                latitude: row.latitude,
                longitude: row.longitude,
                timestamp: row.occurred_at,
            };
            let text = PackageUpdate::new(
                tracking_number,
                kind,
                row.event_id.to_string(),
                row.seq,
                data,
            )
            .render()?;
            Some(Replayed { seq: row.seq, text })
        })
        .collect();

    let points: Vec<Document> = history
        .find(doc! { "tracking_number": tracking_number, "seq": { "$gt": after_seq } })
        .sort(doc! { "seq": 1 })
        .limit(MAX_REPLAY)
        .await?
        .try_collect()
        .await?;
    for point in &points {
        let Some(seq) = point
            .get("seq")
            .and_then(|s| s.as_i64().or_else(|| s.as_i32().map(i64::from)))
        else {
            continue;
        };
        let coordinates = point
            .get_document("location")
            .ok()
            .and_then(|l| l.get_array("coordinates").ok());
        let coordinate = |i: usize| coordinates.and_then(|c| c.get(i)).and_then(Bson::as_f64);
        let Some(timestamp) = point
            .get_datetime("recorded_at")
            .ok()
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
        else {
            continue;
        };
        let data = Data {
            status: None,
            location: point.get_str("address").ok(),
            latitude: coordinate(1),
            longitude: coordinate(0),
            timestamp,
        };
        let event_id = point.get_str("_id").unwrap_or_default().to_owned();
        if let Some(text) =
            PackageUpdate::new(tracking_number, "location", event_id, seq, data).render()
        {
            replayed.push(Replayed { seq, text });
        }
    }
    replayed.sort_by_key(|r| r.seq);
    replayed.truncate(MAX_REPLAY as usize);
    Ok(replayed)
}
