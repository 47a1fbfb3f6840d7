//! A location point as it travels: posted to ingest, sent to the location
//! pool in a [`LocationBatch`], announced as [`LocationsRecorded`].
//!
//! [`Measurements`] is the one list of what a device may report beside its
//! position: a field added there is parsed from posts in every format,
//! stored, read back and carried in live updates.

use crate::domain::{BoundedText, Coordinates, TrackingNumber};
use crate::fields::Fields;
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
    pub sources: Vec<crate::auth::Principal>,
    /// Couriers' own position reports (their `source` indexes `sources` too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub courier_points: Vec<super::report::CourierPoint>,
}

impl LocationBatch {
    /// Points with no source of their own (forwarded, or tests).
    pub fn new(points: Vec<LocationPoint>) -> Self {
        Self {
            points,
            sources: Vec::new(),
            courier_points: Vec::new(),
        }
    }

    /// Who posted a courier's report, if the batch says.
    pub fn source_of_report(
        &self,
        point: &super::report::CourierPoint,
    ) -> Option<&crate::auth::Principal> {
        point.source.and_then(|i| self.sources.get(usize::from(i)))
    }

    /// Who posted `point`, if the batch says.
    pub fn source_of(&self, point: &LocationPoint) -> Option<&crate::auth::Principal> {
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
    /// Flattened: on the wire (a MessagePack map) the measurements are the
    /// point's own keys, as they were before they had a type.
    #[serde(flatten)]
    pub measurements: Measurements,
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
    #[serde(flatten)]
    pub measurements: Measurements,
    pub recorded_at: DateTime<Utc>,
    /// Whether this point became the package's latest position.
    pub is_latest: bool,
    /// The point's number in the package's event sequence.
    pub seq: i64,
}

/// What a device measured beside its position: each optional, each bounded.
/// Absent values are omitted wherever a point is written (wire, history,
/// reads, live updates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Measurements {
    /// Metres (the fix's horizontal accuracy).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 1000000.0)]
    pub accuracy_m: Option<f64>,
    /// Metres per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 1000.0)]
    pub speed_mps: Option<f64>,
    /// Degrees clockwise from north.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 360.0)]
    pub heading_deg: Option<f64>,
    /// Metres above sea level (a fix below it: negative).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1000.0, maximum = 50000.0)]
    pub altitude_m: Option<f64>,
}

impl Measurements {
    /// The posted field names (the batch decoders keep only known fields).
    pub const FIELDS: [&'static str; 4] = ["accuracy_m", "speed_mps", "heading_deg", "altitude_m"];

    /// Reads each measurement from a posted point, recording what is wrong.
    pub fn parse(fields: &mut Fields<'_>) -> Self {
        Self {
            accuracy_m: bounded(fields, "accuracy_m", 0.0, 1_000_000.0),
            speed_mps: bounded(fields, "speed_mps", 0.0, 1_000.0),
            heading_deg: bounded(fields, "heading_deg", 0.0, 360.0),
            altitude_m: bounded(fields, "altitude_m", -1_000.0, 50_000.0),
        }
    }
}

fn bounded(fields: &mut Fields<'_>, field: &str, min: f64, max: f64) -> Option<f64> {
    let value = fields.optional_number(field)?;
    if (min..=max).contains(&value) {
        Some(value)
    } else {
        fields.invalid(field, format!("must be between {min} and {max}"));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_listed_field_is_parsed_and_written_back_under_its_name() {
        for name in Measurements::FIELDS {
            let posted = object(json!({ name: 0.0 }));
            let mut fields = Fields::new(&posted);
            let parsed = Measurements::parse(&mut fields);
            assert!(fields.into_errors().is_empty(), "{name}");
            let written = serde_json::to_value(parsed).unwrap_or_default();
            assert_eq!(written, json!({ name: 0.0 }), "{name}");
        }
    }

    #[test]
    fn out_of_range_and_non_numbers_are_named() {
        let posted = object(json!({"accuracy_m": -1, "speed_mps": "fast", "heading_deg": 361}));
        let mut fields = Fields::new(&posted);
        assert_eq!(Measurements::parse(&mut fields), Measurements::default());
        let errors = fields.into_errors();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors["heading_deg"], "must be between 0 and 360");
    }

    #[test]
    fn a_point_keeps_its_wire_keys_flat() {
        let point = RecordedPoint {
            point_id: Uuid::nil(),
            coordinates: Coordinates::new(1.0, 2.0).expect("valid"),
            address: None,
            measurements: Measurements {
                speed_mps: Some(3.0),
                ..Measurements::default()
            },
            recorded_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            is_latest: true,
            seq: 2,
        };
        let bytes = rmp_serde::to_vec_named(&point).expect("encodes");
        let keys: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
            rmp_serde::from_slice(&bytes).expect("decodes");
        assert!(keys.contains_key("speed_mps"), "{keys:?}");
        assert!(!keys.contains_key("accuracy_m"), "{keys:?}");
        let back: RecordedPoint = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, point);
    }
}
