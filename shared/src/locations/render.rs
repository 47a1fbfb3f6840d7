//! What clients see of points: the history read, the area queries' answers,
//! and the `location` update of a WebSocket, live or replayed (one renderer).

use super::point::{Measurements, RecordedPoint};
use super::stored::{chrono_time, HistoryDoc, LatestDoc};
use crate::frames::{Data, PackageUpdate};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored point, in the original shape plus our fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    id: String,
    package_id: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    address: Option<String>,
    timestamp: DateTime<Utc>,
    #[serde(flatten)]
    measurements: Measurements,
    received_at: DateTime<Utc>,
}

impl From<&HistoryDoc> for LocationView {
    fn from(stored: &HistoryDoc) -> Self {
        Self {
            id: stored.point_id.clone(),
            package_id: stored.package_id.clone(),
            latitude: stored.location.latitude(),
            longitude: stored.location.longitude(),
            address: stored.address.clone(),
            timestamp: chrono_time(stored.recorded_at),
            measurements: stored.measurements,
            received_at: chrono_time(stored.received_at),
        }
    }
}

impl LocationView {
    /// A fix stored elsewhere (a courier's), read as a point of
    /// `package_id` (a package aboard) or of no package.
    pub fn of_fix(
        point_id: String,
        package_id: Option<String>,
        location: &super::stored::GeoPoint,
        (recorded_at, received_at): (mongodb::bson::DateTime, mongodb::bson::DateTime),
        measurements: Measurements,
    ) -> Self {
        Self {
            id: point_id,
            package_id,
            latitude: location.latitude(),
            longitude: location.longitude(),
            address: None,
            timestamp: chrono_time(recorded_at),
            measurements,
            received_at: chrono_time(received_at),
        }
    }

    /// When the fix was taken (the history's order).
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

/// A package's latest position (`distance_m` only in near answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PositionView {
    tracking_number: String,
    package_id: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    recorded_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_m: Option<f64>,
}

impl From<&LatestDoc> for PositionView {
    fn from(stored: &LatestDoc) -> Self {
        Self {
            tracking_number: stored.tracking_number.clone(),
            package_id: stored.package_id.clone(),
            latitude: stored.location.latitude(),
            longitude: stored.location.longitude(),
            recorded_at: chrono_time(stored.recorded_at),
            distance_m: stored.distance_m,
        }
    }
}

/// The `location` update of one point, live or replayed: the same frame.
pub fn update<'a>(
    tracking_number: &'a str,
    point: &'a RecordedPoint,
) -> PackageUpdate<'a, Measurements> {
    PackageUpdate::new(
        tracking_number,
        "location",
        point.point_id.to_string(),
        point.seq,
        Data {
            status: None,
            location: point.address.as_deref(),
            latitude: Some(point.coordinates.latitude()),
            longitude: Some(point.coordinates.longitude()),
            timestamp: point.recorded_at,
            extra: point.measurements,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Coordinates;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn a_location_update_carries_the_measurements_beside_the_position() {
        let point = RecordedPoint {
            point_id: Uuid::from_u128(1),
            coordinates: Coordinates::new(1.5, 2.5).expect("valid"),
            address: Some("Depot".into()),
            measurements: Measurements {
                heading_deg: Some(90.0),
                ..Measurements::default()
            },
            recorded_at: DateTime::from_timestamp(60, 0).unwrap_or_default(),
            is_latest: true,
            seq: 4,
        };
        let text = update("TRK1234", &point).render().expect("renders");
        let frame: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(frame["kind"], "location");
        assert_eq!(frame["seq"], 4);
        assert_eq!(
            frame["data"],
            json!({"status": null, "location": "Depot", "latitude": 1.5, "longitude": 2.5,
                   "timestamp": "1970-01-01T00:01:00Z", "heading_deg": 90.0})
        );
    }
}
