//! Reading a position report in the OsmAnd protocol, as Traccar's decoder
//! reads it (docs/OSMAND-PROTOCOL.md), so Traccar Client, OsmAnd and the
//! trackers that speak it post here unmodified:
//!
//! - a body whose `Content-Type` starts with `application/json` is Traccar
//!   Client 9's JSON ([`Format::Json`]); the query is then ignored;
//! - otherwise the fields are the query string's, or the form-encoded
//!   body's when the query has none ([`Format::Form`]).
//!
//! Units become ours: speed in knots (form) or metres per second (JSON)
//! becomes `speed_mps`, a battery fraction (JSON) becomes a percentage.
//! Measurements a tracker marks unknown (negative speed or heading) or that
//! are out of range are left out; a malformed position, time or identifier
//! is refused. Pure: the caller finds the device, checks the time against
//! its rules and answers.

use crate::domain::Coordinates;
use crate::locations::report::{Attribute, Attributes, Battery};
use crate::locations::Measurements;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

mod fields;

pub use fields::timestamp;
use fields::{
    accuracy, altitude, attribute, bad_time, coordinates, heading, keep, number, percent, scalar,
    speed,
};

/// Knots to metres per second.
const KNOT_MPS: f64 = 0.514_444;

/// Which form the report came in: it decides the status of an unknown
/// identifier (400 for a form, 404 for JSON, as Traccar answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Form,
    Json,
}

/// One decoded report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The device's unique identifier: its credential in this protocol.
    pub unique_id: String,
    pub format: Format,
    /// `None`: no position given (a heartbeat).
    pub coordinates: Option<Coordinates>,
    /// `None`: no time given; the receive time is the fix time.
    pub recorded_at: Option<DateTime<Utc>>,
    pub measurements: Measurements,
    pub battery: Option<Battery>,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsmAndError {
    #[error("id or deviceid is required")]
    NoDeviceId,
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: &str, problem: impl Into<String>) -> OsmAndError {
    OsmAndError::Invalid {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Whether a request is a JSON report (Traccar: the type *starts with*
/// `application/json`).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.trim_start()
            .get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/json"))
    })
}

/// Decodes a report from the request's query, `Content-Type` and body.
pub fn decode(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Report, OsmAndError> {
    if is_json(content_type) {
        decode_json(body)
    } else {
        decode_form(query, body)
    }
}

/// The query/form fields, in the order given.
fn decode_form(query: Option<&str>, body: &[u8]) -> Result<Report, OsmAndError> {
    let source = match query.filter(|q| !q.is_empty()) {
        Some(query) => query.as_bytes(),
        None => body,
    };
    let mut form = Form::default();
    for (key, value) in form_urlencoded::parse(source) {
        form.field(&key, &value)?;
    }
    form.finish()
}

#[derive(Default)]
struct Form {
    unique_id: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    recorded_at: Option<DateTime<Utc>>,
    measurements: Measurements,
    battery_pct: Option<f64>,
    charging: Option<bool>,
    attributes: Attributes,
}

impl Form {
    fn field(&mut self, key: &str, value: &str) -> Result<(), OsmAndError> {
        match key {
            "id" | "deviceid" => self.unique_id = Some(value.to_owned()),
            "timestamp" => self.recorded_at = Some(timestamp(value).ok_or_else(bad_time)?),
            "lat" => self.lat = Some(number(key, value)?),
            "lon" => self.lon = Some(number(key, value)?),
            "location" => {
                let (lat, lon) = value
                    .split_once(',')
                    .ok_or_else(|| invalid(key, "must be latitude,longitude"))?;
                self.lat = Some(number(key, lat)?);
                self.lon = Some(number(key, lon)?);
            }
            "speed" => self.measurements.speed_mps = speed(number(key, value)? * KNOT_MPS),
            "bearing" | "heading" => self.measurements.heading_deg = heading(number(key, value)?),
            "altitude" => self.measurements.altitude_m = altitude(number(key, value)?),
            "accuracy" => self.measurements.accuracy_m = accuracy(number(key, value)?),
            "batt" => self.battery_pct = percent(number(key, value)?),
            "charge" => self.charging = Some(value.eq_ignore_ascii_case("true")),
            // A push token: the device's, not a fact about where it is.
            "notificationToken" => {}
            "driverUniqueId" | "alarm" => {
                keep(&mut self.attributes, key, Attribute::Text(value.to_owned()))?
            }
            _ if value.is_empty() => {}
            _ => keep(&mut self.attributes, key, attribute(value))?,
        }
        Ok(())
    }

    fn finish(self) -> Result<Report, OsmAndError> {
        let unique_id = self
            .unique_id
            .filter(|id| !id.is_empty())
            .ok_or(OsmAndError::NoDeviceId)?;
        let coordinates = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => Some(coordinates(lat, lon)?),
            _ => None,
        };
        Ok(Report {
            unique_id,
            format: Format::Form,
            coordinates,
            recorded_at: self.recorded_at,
            measurements: self.measurements,
            battery: self.battery_pct.map(|level_pct| Battery {
                level_pct,
                charging: self.charging,
            }),
            attributes: self.attributes,
        })
    }
}

/// Traccar Client 9's body: `{"device_id", "location": {...}}`.
fn decode_json(body: &[u8]) -> Result<Report, OsmAndError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("is not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("body", "must be a JSON object"))?;
    let unique_id = match object.get("device_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => return Err(invalid("device_id", "must be a non-empty string")),
        None => return Err(OsmAndError::NoDeviceId),
    };
    let location = object
        .get("location")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("location", "is required (an object)"))?;
    let recorded_at = match location.get("timestamp") {
        Some(Value::String(raw)) if raw.contains('T') => timestamp(raw).ok_or_else(bad_time)?,
        _ => {
            return Err(invalid(
                "location.timestamp",
                "an ISO 8601 time is required",
            ))
        }
    };
    let (coordinates, measurements) = match location.get("coords") {
        None | Some(Value::Null) => (None, Measurements::default()),
        Some(Value::Object(coords)) => json_coords(coords)?,
        Some(_) => return Err(invalid("location.coords", "must be an object")),
    };
    Ok(Report {
        unique_id,
        format: Format::Json,
        coordinates,
        recorded_at: Some(recorded_at),
        measurements,
        battery: json_battery(location)?,
        attributes: json_attributes(location)?,
    })
}

fn json_coords(
    coords: &Map<String, Value>,
) -> Result<(Option<Coordinates>, Measurements), OsmAndError> {
    let get = |key: &str| -> Result<Option<f64>, OsmAndError> {
        match coords.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| invalid(&format!("location.coords.{key}"), "must be a number")),
        }
    };
    let (Some(lat), Some(lon)) = (get("latitude")?, get("longitude")?) else {
        return Err(invalid(
            "location.coords",
            "latitude and longitude are required",
        ));
    };
    let measurements = Measurements {
        accuracy_m: get("accuracy")?.and_then(accuracy),
        speed_mps: get("speed")?.and_then(speed),
        heading_deg: get("heading")?.and_then(heading),
        altitude_m: get("altitude")?.and_then(altitude),
    };
    Ok((Some(coordinates(lat, lon)?), measurements))
}

fn json_battery(location: &Map<String, Value>) -> Result<Option<Battery>, OsmAndError> {
    let Some(battery) = location.get("battery").and_then(Value::as_object) else {
        return Ok(None);
    };
    let level = match battery.get("level") {
        Some(value) => value
            .as_f64()
            .ok_or_else(|| invalid("location.battery.level", "must be a number"))?,
        None => return Ok(None),
    };
    // −1 is "unknown"; a fraction 0–1 becomes a percentage.
    let Some(level_pct) = percent((level * 1000.0).round() / 10.0).filter(|_| level >= 0.0) else {
        return Ok(None);
    };
    Ok(Some(Battery {
        level_pct,
        charging: battery.get("is_charging").and_then(Value::as_bool),
    }))
}

/// `is_moving`, `odometer`, `event`, `activity.type`, `mock`, the alarm and
/// the `extras`, as attributes.
fn json_attributes(location: &Map<String, Value>) -> Result<Attributes, OsmAndError> {
    let mut attributes = Attributes::new();
    let extras = location.get("extras").and_then(Value::as_object);
    for (key, value) in extras.into_iter().flatten() {
        if let Some(value) = scalar(value) {
            keep(&mut attributes, key, value)?;
        }
    }
    let named = [
        ("motion", location.get("is_moving")),
        ("odometer", location.get("odometer")),
        ("event", location.get("event")),
        ("mock", location.get("mock")),
        (
            "activity",
            location.get("activity").and_then(|a| a.get("type")),
        ),
        ("alarm", location.get("alarm")),
    ];
    for (name, value) in named {
        if let Some(value) = value.and_then(scalar) {
            keep(&mut attributes, name, value)?;
        }
    }
    Ok(attributes)
}

#[cfg(test)]
#[path = "osmand_tests.rs"]
mod tests;
