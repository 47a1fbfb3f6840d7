use crate::domain::{BoundedText, Coordinates, TrackingNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One broker message for a whole batch of device points (ingest → location
/// workers). Points may name different packages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocationBatch {
    pub points: Vec<LocationPoint>,
    /// Who posted the points (a group-commit message carries many posts):
    /// each point's `source` indexes this list. Empty for points the
    /// pipeline forwards itself (a status update's coordinates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::wire::Principal>,
}

impl LocationBatch {
    /// Points with no source of their own (forwarded, or tests).
    pub fn new(points: Vec<LocationPoint>) -> Self {
        Self {
            points,
            sources: Vec::new(),
        }
    }

    /// Who posted `point`, if the batch says.
    pub fn source_of(&self, point: &LocationPoint) -> Option<&crate::wire::Principal> {
        point.source.and_then(|i| self.sources.get(usize::from(i)))
    }
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
    /// Index into the batch's `sources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u16>,
}

/// One package's points stored by one window of the location pool, announced
/// on the events exchange as one message (not one per point: the broker then
/// carries packages per window, not points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationsRecorded {
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    /// In sequence order.
    pub points: Vec<RecordedPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedPoint {
    pub point_id: Uuid,
    pub coordinates: Coordinates,
    pub address: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Whether this point became the package's latest position.
    pub is_latest: bool,
    /// The point's number in the package's event sequence.
    pub seq: i64,
}
