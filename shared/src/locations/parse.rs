//! Reading a posted point: its fields, its limits, and the id that makes a
//! re-sent point be stored once.

use super::point::{LocationPoint, Measurements};
use crate::domain::{Coordinates, CoordinatesError, TrackingNumber};
use crate::fields::Fields;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// The fields of a posted point besides its [`Measurements`].
pub const FIELDS: [&str; 6] = [
    "tracking_number",
    "latitude",
    "longitude",
    "address",
    "recorded_at",
    "id",
];

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
pub(crate) const POINT_ID_MAX: usize = 128;
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
    pub fn new(caller: &crate::auth::Caller, key_scope: Option<String>) -> Self {
        let poster = match caller.device_id {
            Some(device) => format!("device {device}"),
            None => format!("account {}", caller.user_id),
        };
        Self { poster, key_scope }
    }

    /// `subject`: what the point is of (a tracking number, or `courier <id>`).
    pub(crate) fn id_for(&self, index: usize, subject: &str, own: Option<&str>) -> Uuid {
        match (own, &self.key_scope) {
            (Some(own), _) => Uuid::new_v5(
                &NAMESPACE,
                format!("point {} {subject} {own}", self.poster).as_bytes(),
            ),
            (None, Some(scope)) => Uuid::new_v5(
                &NAMESPACE,
                format!("key {scope} {subject} #{index}").as_bytes(),
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
    let coordinates = coordinates(&mut fields, object);
    let address = fields.optional_text("address", ADDRESS_MAX);
    let measurements = Measurements::parse(&mut fields);
    let recorded_at = recorded_at(&mut fields, rules, received_at);
    let own_id = fields.optional_str("id");
    if own_id.is_some_and(|id| id.is_empty() || id.len() > POINT_ID_MAX) {
        fields.invalid("id", format!("must be 1 to {POINT_ID_MAX} characters"));
    }
    let errors = fields.into_errors();
    match (tracking_number, coordinates, recorded_at) {
        (Some(tracking_number), Some(coordinates), Some(recorded_at)) if errors.is_empty() => {
            Ok(LocationPoint {
                point_id: ids.id_for(index, tracking_number.as_str(), own_id),
                tracking_number,
                coordinates,
                address,
                measurements,
                recorded_at,
                received_at,
                source: None,
            })
        }
        _ => Err(errors),
    }
}

/// `latitude` and `longitude`, both required and in range.
pub(crate) fn coordinates(
    fields: &mut Fields<'_>,
    object: &Map<String, Value>,
) -> Option<Coordinates> {
    let latitude = fields.optional_number("latitude");
    let longitude = fields.optional_number("longitude");
    if latitude.is_none() && !fields_has(object, "latitude") {
        fields.invalid("latitude", "is required");
    }
    if longitude.is_none() && !fields_has(object, "longitude") {
        fields.invalid("longitude", "is required");
    }
    match (latitude, longitude) {
        (Some(lat), Some(lon)) => Coordinates::new(lat, lon)
            .map_err(|e| match e {
                CoordinatesError::Latitude => fields.invalid("latitude", e.to_string()),
                CoordinatesError::Longitude => fields.invalid("longitude", e.to_string()),
            })
            .ok(),
        _ => None,
    }
}

/// When the fix was taken: the receive time if not given; never further
/// ahead than the allowed clock skew, never older than the allowed age.
pub(crate) fn recorded_at(
    fields: &mut Fields<'_>,
    rules: &PointRules,
    received_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match fields.optional_str("recorded_at") {
        None => Some(received_at),
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Err(_) => {
                fields.invalid("recorded_at", "must be an RFC 3339 timestamp");
                None
            }
            Ok(time) => within_rules(time.with_timezone(&Utc), rules, received_at)
                .map_err(|problem| fields.invalid("recorded_at", problem))
                .ok(),
        },
    }
}

/// A fix time kept to milliseconds, if it is neither too far ahead of the
/// receive time nor too old; otherwise what is wrong with it.
pub fn within_rules(
    time: DateTime<Utc>,
    rules: &PointRules,
    received_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let time = time.trunc_subsecs(3);
    if time > received_at + rules.max_future_skew {
        Err(format!(
            "is more than {}s in the future",
            rules.max_future_skew.as_secs()
        ))
    } else if time < received_at - rules.max_age {
        Err(format!("is older than {}s", rules.max_age.as_secs()))
    } else {
        Ok(time)
    }
}

fn fields_has(object: &Map<String, Value>, field: &str) -> bool {
    object.get(field).is_some_and(|v| !v.is_null())
}

/// The receive time, kept to milliseconds as the history stores it.
pub fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
