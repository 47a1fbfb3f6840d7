//! What a courier's watchers read of one of its events (`courier_update`
//! frames, and the `data` of courier webhook deliveries): rendered by this
//! one piece of code wherever it is sent.

use super::events::{CourierEvent, CourierFix, CourierMoved};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// The `courier_update` frame of an event (`envelope_id`: its envelope's
/// `event_id`): `{"type", "courier_id", "kind", "event_id", "data"}`.
pub fn update(envelope_id: uuid::Uuid, event: &CourierEvent) -> Value {
    let data = match event {
        CourierEvent::Moved(moved) => moved_data(moved),
        CourierEvent::PresenceChanged {
            presence,
            heard_at,
            battery_pct,
            ..
        } => json!({ "presence": presence, "heard_at": heard_at, "battery_pct": battery_pct }),
        CourierEvent::Geofence(notice) => {
            let mut data = notice.notice.fields();
            data.insert("timestamp".into(), json!(notice.occurred_at));
            Value::Object(data)
        }
    };
    json!({
        "type": "courier_update",
        "courier_id": event.courier_id(),
        "kind": event.kind(),
        "event_id": event_id(envelope_id, event),
        "data": data,
    })
}

/// The event's id as watchers see it: a zone event has its own (the same
/// however often it is announced), others their envelope's.
pub fn event_id(envelope_id: uuid::Uuid, event: &CourierEvent) -> uuid::Uuid {
    match event {
        CourierEvent::Geofence(notice) => notice.event_id,
        _ => envelope_id,
    }
}

/// When it happened: the latest fix of a move (`announced_at` for a move
/// without fixes), when the device was heard, when the zone event happened.
pub fn happened_at(announced_at: DateTime<Utc>, event: &CourierEvent) -> DateTime<Utc> {
    match event {
        CourierEvent::Moved(moved) => moved
            .points
            .iter()
            .map(|p| p.recorded_at)
            .max()
            .unwrap_or(announced_at),
        CourierEvent::PresenceChanged { heard_at, .. } => *heard_at,
        CourierEvent::Geofence(notice) => notice.occurred_at,
    }
}

fn moved_data(moved: &CourierMoved) -> Value {
    let points: Vec<Fix<'_>> = moved.points.iter().map(Fix::of).collect();
    let packages: Vec<&str> = moved
        .packages
        .iter()
        .map(|p| p.tracking_number.as_str())
        .collect();
    json!({ "points": points, "packages": packages })
}

/// A position as frames show it: the field names of a location update.
#[derive(Serialize)]
pub struct Position<'a> {
    latitude: f64,
    longitude: f64,
    timestamp: DateTime<Utc>,
    #[serde(flatten)]
    measurements: &'a crate::locations::Measurements,
}

impl<'a> Position<'a> {
    pub fn of(fix: &'a CourierFix) -> Self {
        Self {
            latitude: fix.coordinates.latitude(),
            longitude: fix.coordinates.longitude(),
            timestamp: fix.recorded_at,
            measurements: &fix.measurements,
        }
    }
}

/// A courier's fix: its position, and whether it became the courier's
/// latest (a late fix did not).
#[derive(Serialize)]
struct Fix<'a> {
    #[serde(flatten)]
    position: Position<'a>,
    is_latest: bool,
}

impl<'a> Fix<'a> {
    fn of(fix: &'a CourierFix) -> Self {
        Self {
            position: Position::of(fix),
            is_latest: fix.is_latest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::couriers::Riding;
    use crate::domain::Coordinates;
    use uuid::Uuid;

    fn fix(latitude: f64, is_latest: bool) -> CourierFix {
        CourierFix {
            point_id: Uuid::new_v4(),
            coordinates: Coordinates::new(latitude, 13.4).expect("coordinates"),
            measurements: Default::default(),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            is_latest,
        }
    }

    #[test]
    fn a_courier_update_names_its_fixes_and_the_packages_aboard() {
        let courier_id = Uuid::new_v4();
        let moved = CourierMoved {
            courier_id,
            points: vec![fix(52.0, false), fix(52.5, true)],
            packages: vec![Riding {
                tracking_number: "TRK1".into(),
                public: false,
                since_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            }],
        };
        let event = CourierEvent::Moved(moved);
        let frame = update(Uuid::from_u128(7), &event);
        assert_eq!(frame["type"], "courier_update");
        assert_eq!(frame["kind"], "moved");
        assert_eq!(frame["courier_id"], json!(courier_id));
        assert_eq!(frame["event_id"], json!(Uuid::from_u128(7)));
        let data = &frame["data"];
        assert_eq!(data["packages"], json!(["TRK1"]));
        assert_eq!(data["points"][1]["latitude"], json!(52.5));
        assert_eq!(data["points"][1]["is_latest"], json!(true));
        assert!(data["points"][0].get("speed_mps").is_none());
        assert_eq!(
            happened_at(Utc::now(), &event),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
        );
    }
}
