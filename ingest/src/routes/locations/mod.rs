//! Device locations: single and batch ingest (fire-and-forget, 202 once the
//! broker confirmed), the history, and geospatial queries on latest positions.

pub mod decode;
pub mod history;
pub mod near;
pub mod post_batch;
pub mod post_one;
pub mod within;

use crate::http::fields::Fields;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};
use shared::domain::{Coordinates, CoordinatesError, TrackingNumber};
use shared::wire::LocationPoint;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// What a point must satisfy; from the environment (see README).
#[derive(Debug, Clone, Copy)]
pub struct PointRules {
    /// How far ahead of the receive time `recorded_at` may be (device clocks drift).
    pub max_future_skew: Duration,
    /// How old a point may be (devices upload late after being offline).
    pub max_age: Duration,
    pub batch_max_points: usize,
    pub batch_max_bytes: usize,
}

const ADDRESS_MAX: usize = 500;
const POINT_ID_MAX: usize = 128;
const NAMESPACE: Uuid = Uuid::from_u128(0x2b7c_41d0_5e3a_4c8f_9d61_0a7e_b3f2_9c14);

/// How a point's id is chosen, most specific first: the point's own `id`
/// (with its poster and tracking number: another poster's `id: 42` is
/// another point); the request's `Idempotency-Key` scope (the caller's) and
/// fingerprint with the point's tracking number and index; otherwise a
/// fresh one.
pub struct PointIds {
    /// Who posts: the device, or the account when no device key was used.
    poster: String,
    key_scope: Option<String>,
}

impl PointIds {
    pub fn new(caller: &shared::auth::Caller, key_scope: Option<String>) -> Self {
        let poster = match caller.device_id {
            Some(device) => format!("device {device}"),
            None => format!("account {}", caller.user_id),
        };
        Self { poster, key_scope }
    }

    fn id_for(&self, index: usize, tracking_number: &TrackingNumber, own: Option<&str>) -> Uuid {
        match (own, &self.key_scope) {
            (Some(own), _) => Uuid::new_v5(
                &NAMESPACE,
                format!("point {} {tracking_number} {own}", self.poster).as_bytes(),
            ),
            (None, Some(scope)) => Uuid::new_v5(
                &NAMESPACE,
                format!("key {scope} {tracking_number} #{index}").as_bytes(),
            ),
            (None, None) => Uuid::now_v7(),
        }
    }
}

/// Parses one point. `tracking_number` is given by the path for the single
/// endpoint, and read from the point in a batch.
pub fn parse_point(
    object: &Map<String, Value>,
    path_tracking_number: Option<&TrackingNumber>,
    index: usize,
    ids: &PointIds,
    rules: &PointRules,
    received_at: DateTime<Utc>,
) -> Result<LocationPoint, BTreeMap<String, String>> {
    let mut fields = Fields::new(object);
    let tracking_number = match path_tracking_number {
        Some(tn) => Some(tn.clone()),
        None => fields.required_str("tracking_number").and_then(|raw| {
            TrackingNumber::parse(raw)
                .map_err(|e| fields.invalid("tracking_number", e.to_string()))
                .ok()
        }),
    };
    let latitude = fields.optional_number("latitude");
    let longitude = fields.optional_number("longitude");
    if latitude.is_none() && !fields_has(object, "latitude") {
        fields.invalid("latitude", "is required");
    }
    if longitude.is_none() && !fields_has(object, "longitude") {
        fields.invalid("longitude", "is required");
    }
    let coordinates = match (latitude, longitude) {
        (Some(lat), Some(lon)) => Coordinates::new(lat, lon)
            .map_err(|e| match e {
                CoordinatesError::Latitude => fields.invalid("latitude", e.to_string()),
                CoordinatesError::Longitude => fields.invalid("longitude", e.to_string()),
            })
            .ok(),
        _ => None,
    };
    let address = fields.optional_text("address", ADDRESS_MAX);
    let accuracy_m = bounded(&mut fields, "accuracy_m", 0.0, 1_000_000.0);
    let speed_mps = bounded(&mut fields, "speed_mps", 0.0, 1_000.0);
    let heading_deg = bounded(&mut fields, "heading_deg", 0.0, 360.0);
    let recorded_at = match fields.optional_str("recorded_at") {
        None => Some(received_at),
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Err(_) => {
                fields.invalid("recorded_at", "must be an RFC 3339 timestamp");
                None
            }
            Ok(time) => {
                let time = time.with_timezone(&Utc).trunc_subsecs(3);
                if time > received_at + rules.max_future_skew {
                    fields.invalid(
                        "recorded_at",
                        format!(
                            "is more than {}s in the future",
                            rules.max_future_skew.as_secs()
                        ),
                    );
                    None
                } else if time < received_at - rules.max_age {
                    fields.invalid(
                        "recorded_at",
                        format!("is older than {}s", rules.max_age.as_secs()),
                    );
                    None
                } else {
                    Some(time)
                }
            }
        },
    };
    let own_id = fields.optional_str("id");
    if own_id.is_some_and(|id| id.is_empty() || id.len() > POINT_ID_MAX) {
        fields.invalid("id", format!("must be 1 to {POINT_ID_MAX} characters"));
    }
    let errors = fields.into_errors();
    match (tracking_number, coordinates, recorded_at) {
        (Some(tracking_number), Some(coordinates), Some(recorded_at)) if errors.is_empty() => {
            Ok(LocationPoint {
                point_id: ids.id_for(index, &tracking_number, own_id),
                tracking_number,
                coordinates,
                address,
                accuracy_m,
                speed_mps,
                heading_deg,
                recorded_at,
                received_at,
                source: None,
            })
        }
        _ => Err(errors),
    }
}

fn fields_has(object: &Map<String, Value>, field: &str) -> bool {
    object.get(field).is_some_and(|v| !v.is_null())
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

/// The receive time, kept to milliseconds as the history stores it.
pub fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// The (latitude, longitude) of a stored document's GeoJSON `location`.
pub fn document_position(document: &mongodb::bson::Document) -> (Option<f64>, Option<f64>) {
    let coordinates = document
        .get_document("location")
        .ok()
        .and_then(|l| l.get_array("coordinates").ok());
    let coordinate = |i: usize| {
        coordinates
            .and_then(|c| c.get(i))
            .and_then(mongodb::bson::Bson::as_f64)
    };
    (coordinate(1), coordinate(0))
}

/// A stored BSON date field as a UTC timestamp.
pub fn document_time(document: &mongodb::bson::Document, field: &str) -> Option<DateTime<Utc>> {
    document
        .get_datetime(field)
        .ok()
        .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
}
