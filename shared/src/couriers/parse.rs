//! Reading a courier's position posted to the JSON API
//! (`POST /api/v1/me/location` and the batch form): the fields of a
//! package point (`latitude`, `longitude`, `recorded_at`, `id`, the
//! measurements) without a tracking number, plus the battery.

use crate::auth::Caller;
use crate::fields::Fields;
use crate::locations::parse::{self as point_parse, PointIds, PointRules};
use crate::locations::report::{Attributes, Battery, CourierPoint};
use crate::locations::Measurements;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub use crate::locations::report::FIELDS;

/// Parses one posted position of the calling courier (or their device).
pub fn parse_fix(
    object: &Map<String, Value>,
    caller: &Caller,
    index: usize,
    ids: &PointIds,
    rules: &PointRules,
    received_at: DateTime<Utc>,
) -> Result<CourierPoint, BTreeMap<String, String>> {
    let mut fields = Fields::new(object);
    let coordinates = point_parse::coordinates(&mut fields, object);
    let measurements = Measurements::parse(&mut fields);
    let recorded_at = point_parse::recorded_at(&mut fields, rules, received_at);
    let battery = fields
        .optional_number("battery_pct")
        .and_then(|level| {
            if (0.0..=100.0).contains(&level) {
                Some(level)
            } else {
                fields.invalid("battery_pct", "must be between 0 and 100");
                None
            }
        })
        .map(|level_pct| Battery {
            level_pct,
            charging: None,
        });
    let charging = match object.get("charging") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            fields.invalid("charging", "must be true or false");
            None
        }
    };
    let own_id = fields.optional_str("id");
    if own_id.is_some_and(|id| id.is_empty() || id.len() > point_parse::POINT_ID_MAX) {
        fields.invalid(
            "id",
            format!("must be 1 to {} characters", point_parse::POINT_ID_MAX),
        );
    }
    let errors = fields.into_errors();
    match (coordinates, recorded_at) {
        (Some(coordinates), Some(recorded_at)) if errors.is_empty() => Ok(CourierPoint {
            point_id: ids.id_for(index, &format!("courier {}", caller.user_id), own_id),
            courier_id: caller.user_id,
            device_id: caller.device_id,
            coordinates: Some(coordinates),
            measurements,
            battery: battery.map(|b| Battery { charging, ..b }),
            attributes: Attributes::new(),
            recorded_at,
            received_at,
            source: None,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use serde_json::json;
    use std::time::Duration;
    use uuid::Uuid;

    fn rules() -> PointRules {
        PointRules {
            max_future_skew: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            batch_max_points: 10,
            batch_max_bytes: 10_000,
        }
    }

    fn courier() -> Caller {
        Caller {
            user_id: Uuid::from_u128(5),
            role: Role::Courier,
            email: None,
            device_id: None,
            session_id: None,
        }
    }

    fn parse(value: Value) -> Result<CourierPoint, BTreeMap<String, String>> {
        let object = value.as_object().cloned().unwrap_or_default();
        let caller = courier();
        let ids = PointIds::new(&caller, None);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        parse_fix(&object, &caller, 0, &ids, &rules(), now)
    }

    #[test]
    fn a_position_is_the_callers_own_with_its_battery() {
        let point = parse(
            json!({"latitude": 1.0, "longitude": 2.0, "battery_pct": 55.5,
                                 "charging": true, "speed_mps": 3.0, "id": "a"}),
        )
        .expect("valid");
        assert_eq!(point.courier_id, Uuid::from_u128(5));
        assert_eq!(
            point.battery,
            Some(Battery {
                level_pct: 55.5,
                charging: Some(true)
            })
        );
        assert_eq!(point.measurements.speed_mps, Some(3.0));
        let again = parse(json!({"latitude": 9.0, "longitude": 9.0, "id": "a"})).expect("valid");
        assert_eq!(
            again.point_id, point.point_id,
            "the own id makes it idempotent"
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = parse(
            json!({"latitude": 100.0, "longitude": 2.0, "battery_pct": 101,
                                  "charging": "yes", "recorded_at": "2000-01-01T00:00:00Z"}),
        )
        .expect_err("invalid");
        for field in ["latitude", "battery_pct", "charging", "recorded_at"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        let missing = parse(json!({"latitude": 1.0})).expect_err("invalid");
        assert_eq!(missing["longitude"], "is required");
    }
}
