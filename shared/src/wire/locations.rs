use crate::domain::{BoundedText, Coordinates, TrackingNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One broker message for a whole batch of device points (ingest → location
/// workers). Points may name different packages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationBatch {
    pub points: Vec<LocationPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationPoint {
    /// The point's idempotency key: its `_id` in the history, so a redelivered
    /// or re-posted point is stored once.
    pub point_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub coordinates: Coordinates,
    pub address: Option<BoundedText>,
    pub accuracy_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
    /// When the device took the fix (milliseconds precision, as stored).
    pub recorded_at: DateTime<Utc>,
    /// When ingest received it.
    pub received_at: DateTime<Utc>,
}

/// A point stored in the history, announced on the events exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationRecorded {
    pub point_id: Uuid,
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub coordinates: Coordinates,
    pub address: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Whether this point became the package's latest position.
    pub is_latest: bool,
    /// The point's number in the package's event sequence.
    #[serde(default)]
    pub seq: i64,
}
