//! A courier's own position report as it travels from ingest to the
//! location workers, beside package points in a [`super::LocationBatch`]
//! (what is done with it is the couriers flow's: `crate::couriers`).

use super::Measurements;
use crate::domain::Coordinates;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A report of where a courier is, from the courier's phone (a token) or a
/// device bound to them (an API key or an OsmAnd identifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourierPoint {
    /// The report's idempotency key: its `_id` in the courier history.
    pub point_id: Uuid,
    pub courier_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    /// `None`: the device reported without a fix (an OsmAnd heartbeat); it
    /// still counts for presence and battery, and is not stored as a point.
    #[serde(default)]
    pub coordinates: Option<Coordinates>,
    #[serde(flatten)]
    pub measurements: Measurements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<Battery>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: Attributes,
    /// When the fix was taken (milliseconds precision, as stored).
    pub recorded_at: DateTime<Utc>,
    /// When ingest received it.
    pub received_at: DateTime<Utc>,
    /// Index into the batch's `sources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u16>,
}

/// What a device said of its battery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Battery {
    /// 0 to 100.
    pub level_pct: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging: Option<bool>,
}

/// Whatever else a tracker reported (ignition, fuel, an alarm, ...), kept
/// as it came: at most [`Attributes::MAX`] of them, each bounded.
pub type Attributes = BTreeMap<String, Attribute>;

/// One reported attribute's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Attribute {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// The fields of a posted courier position (`crate::couriers::parse`).
pub const FIELDS: [&str; 6] = [
    "latitude",
    "longitude",
    "recorded_at",
    "id",
    "battery_pct",
    "charging",
];

/// Limits on what a report may carry beside its position.
pub mod limits {
    /// Attributes per report.
    pub const ATTRIBUTES: usize = 32;
    /// Characters in an attribute's name.
    pub const NAME: usize = 64;
    /// Characters in a text attribute.
    pub const TEXT: usize = 256;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_messagepack_with_its_attributes() {
        let point = CourierPoint {
            point_id: Uuid::from_u128(7),
            courier_id: Uuid::from_u128(8),
            device_id: Some(Uuid::from_u128(9)),
            coordinates: Some(Coordinates::new(60.0, 30.0).expect("valid")),
            measurements: Measurements {
                speed_mps: Some(2.5),
                ..Measurements::default()
            },
            battery: Some(Battery {
                level_pct: 87.0,
                charging: Some(false),
            }),
            attributes: Attributes::from([
                ("ignition".to_owned(), Attribute::Bool(true)),
                ("rpm".to_owned(), Attribute::Number(933.0)),
                ("alarm".to_owned(), Attribute::Text("sos".into())),
            ]),
            recorded_at: DateTime::from_timestamp(1_377_177_267, 0).unwrap_or_default(),
            received_at: DateTime::from_timestamp(1_377_177_268, 0).unwrap_or_default(),
            source: Some(0),
        };
        let bytes = rmp_serde::to_vec_named(&point).expect("encodes");
        let back: CourierPoint = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, point);
        let heartbeat = CourierPoint {
            coordinates: None,
            attributes: Attributes::new(),
            ..point
        };
        let bytes = rmp_serde::to_vec_named(&heartbeat).expect("encodes");
        let back: CourierPoint = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, heartbeat);
    }
}
