//! Reading one value of an OsmAnd report: attributes within their limits,
//! numbers, positions, times, and measurements within their ranges.

use super::{invalid, OsmAndError};
use crate::domain::Coordinates;
use crate::locations::report::{limits, Attribute, Attributes};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde_json::Value;

pub(super) fn scalar(value: &Value) -> Option<Attribute> {
    match value {
        Value::Bool(b) => Some(Attribute::Bool(*b)),
        Value::Number(n) => n.as_f64().map(Attribute::Number),
        Value::String(s) if !s.is_empty() => Some(attribute(s)),
        _ => None,
    }
}

/// A text value as Traccar keeps it: a number, exactly `true`/`false`, or text.
pub(super) fn attribute(value: &str) -> Attribute {
    match value {
        "true" => Attribute::Bool(true),
        "false" => Attribute::Bool(false),
        _ => match value.parse::<f64>() {
            Ok(n) if n.is_finite() => Attribute::Number(n),
            _ => Attribute::Text(value.to_owned()),
        },
    }
}

/// Adds an attribute within the limits ([`limits`]).
pub(super) fn keep(
    attributes: &mut Attributes,
    key: &str,
    value: Attribute,
) -> Result<(), OsmAndError> {
    // Only plain names: MongoDB refuses NUL in a key and reads `$` and `.`
    // as operators and paths; one unstorable report would hold its window.
    let plain = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if key.is_empty() || key.len() > limits::NAME || !plain {
        return Err(invalid(
            "attributes",
            format!("a name must be 1 to {} of A-Z a-z 0-9 _ -", limits::NAME),
        ));
    }
    if let Attribute::Text(text) = &value {
        if text.chars().count() > limits::TEXT {
            return Err(invalid(
                key,
                format!("is longer than {} characters", limits::TEXT),
            ));
        }
    }
    if attributes.len() >= limits::ATTRIBUTES && !attributes.contains_key(key) {
        return Err(invalid(
            "attributes",
            format!("a report carries at most {} attributes", limits::ATTRIBUTES),
        ));
    }
    attributes.insert(key.to_owned(), value);
    Ok(())
}

pub(super) fn number(field: &str, raw: &str) -> Result<f64, OsmAndError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| invalid(field, "must be a number"))
}

pub(super) fn coordinates(lat: f64, lon: f64) -> Result<Coordinates, OsmAndError> {
    Coordinates::new(lat, lon).map_err(|e| match e {
        crate::domain::CoordinatesError::Latitude => invalid("lat", e.to_string()),
        crate::domain::CoordinatesError::Longitude => invalid("lon", e.to_string()),
    })
}

pub(super) fn bad_time() -> OsmAndError {
    invalid(
        "timestamp",
        "must be Unix seconds or milliseconds, ISO 8601 with a zone, or yyyy-MM-dd HH:mm:ss (UTC)",
    )
}

/// The time forms Traccar reads, in its order: an integer (Unix seconds
/// below 2^31 − 1, milliseconds from there), ISO 8601 with a zone, or
/// `yyyy-MM-dd HH:mm:ss` (UTC here; Traccar takes its server's zone).
pub fn timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let time = if let Ok(n) = raw.parse::<i64>() {
        if n < 2_147_483_647 {
            DateTime::from_timestamp(n, 0)
        } else {
            DateTime::from_timestamp_millis(n)
        }
    } else if raw.contains('T') {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    } else {
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(|t| t.and_utc())
    };
    time.map(|t| t.trunc_subsecs(3))
}

/// A measurement kept only within its range (trackers send −1 for unknown).
fn within(value: f64, min: f64, max: f64) -> Option<f64> {
    (min..=max).contains(&value).then_some(value)
}

pub(super) fn speed(mps: f64) -> Option<f64> {
    within(mps, 0.0, 1_000.0)
}

pub(super) fn heading(degrees: f64) -> Option<f64> {
    within(degrees, 0.0, 360.0)
}

pub(super) fn altitude(metres: f64) -> Option<f64> {
    within(metres, -1_000.0, 50_000.0)
}

pub(super) fn accuracy(metres: f64) -> Option<f64> {
    within(metres, 0.0, 1_000_000.0)
}

pub(super) fn percent(level: f64) -> Option<f64> {
    within(level, 0.0, 100.0)
}
