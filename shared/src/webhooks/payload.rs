//! What a delivery POSTs: `{"id", "type", "created_at", "data"}`, where
//! `data` is what a watcher sees of the event, rendered by the same code
//! as the frames: for a package event the `package_update` frame's `data`
//! plus the package's `tracking_number` and the event's `seq`; for a
//! courier event the `courier_update` frame's `data` plus `courier_id`.
//! Deliveries to one endpoint are not ordered; `seq` orders them per
//! package, and a courier event's own times (`heard_at`, the points'
//! `timestamp`) order a courier's.

use crate::couriers::render as courier_render;
use crate::couriers::CourierEvent;
use crate::packages::render;
use crate::packages::PackageEvent;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One event of one package or courier, as an endpoint gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub event_id: Uuid,
    pub kind: String,
    pub subject: Subject,
    pub created_at: DateTime<Utc>,
    pub data: Map<String, Value>,
}

/// Whose event it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Package { tracking_number: String, seq: i64 },
    Courier { courier_id: Uuid },
}

impl Subject {
    pub fn tracking_number(&self) -> Option<&str> {
        match self {
            Self::Package {
                tracking_number, ..
            } => Some(tracking_number),
            Self::Courier { .. } => None,
        }
    }

    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Package { seq, .. } => Some(*seq),
            Self::Courier { .. } => None,
        }
    }

    pub fn courier_id(&self) -> Option<Uuid> {
        match self {
            Self::Courier { courier_id } => Some(*courier_id),
            Self::Package { .. } => None,
        }
    }
}

impl Occurrence {
    /// The exact bytes every attempt sends.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "id": self.event_id,
            "type": self.kind,
            "created_at": self.created_at,
            "data": self.data,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The occurrences a result event carries (a window's points of one
/// package travel as one event); none for what watchers never see.
pub fn occurrences(event_id: Uuid, event: &PackageEvent) -> Vec<Occurrence> {
    let frames: Vec<Value> = match event {
        PackageEvent::PackageCreated(created) => to_value(&render::created(event_id, created)),
        PackageEvent::StatusChanged(changed) => to_value(&render::changed(event_id, changed)),
        PackageEvent::LocationsRecorded(recorded) => recorded
            .points
            .iter()
            .flat_map(|point| {
                to_value(&crate::locations::render::update(
                    recorded.tracking_number.as_str(),
                    point,
                ))
            })
            .collect(),
        PackageEvent::Notice(notice) => to_value(&notice.update()),
        PackageEvent::CommandRejected { .. } | PackageEvent::PlanChanged(_) => Vec::new(),
    };
    frames.into_iter().filter_map(occurrence).collect()
}

/// The occurrence a courier event is (announced in an envelope of
/// `envelope_id` at `announced_at`), when endpoints may ask for its kind.
pub fn courier_occurrence(
    envelope_id: Uuid,
    announced_at: DateTime<Utc>,
    event: &CourierEvent,
) -> Option<Occurrence> {
    let kind = crate::event_kinds::of_courier(event.kind())?;
    let Value::Object(mut frame) = courier_render::update(envelope_id, event) else {
        return None;
    };
    let Some(Value::Object(mut data)) = frame.remove("data") else {
        return None;
    };
    let courier_id = event.courier_id();
    data.insert("courier_id".into(), Value::String(courier_id.to_string()));
    Some(Occurrence {
        event_id: courier_render::event_id(envelope_id, event),
        kind: kind.to_owned(),
        subject: Subject::Courier { courier_id },
        created_at: courier_render::happened_at(announced_at, event),
        data,
    })
}

fn to_value(frame: &impl serde::Serialize) -> Vec<Value> {
    serde_json::to_value(frame).into_iter().collect()
}

/// A rendered frame into an occurrence.
fn occurrence(frame: Value) -> Option<Occurrence> {
    let Value::Object(mut frame) = frame else {
        return None;
    };
    let event_id = frame.get("event_id")?.as_str()?.parse().ok()?;
    let kind = frame.get("kind")?.as_str()?.to_owned();
    let tracking_number = frame.get("tracking_number")?.as_str()?.to_owned();
    let seq = frame.get("seq")?.as_i64()?;
    let Some(Value::Object(mut data)) = frame.remove("data") else {
        return None;
    };
    let created_at = data
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())?;
    data.insert(
        "tracking_number".into(),
        Value::String(tracking_number.clone()),
    );
    data.insert("seq".into(), Value::from(seq));
    Some(Occurrence {
        event_id,
        kind,
        subject: Subject::Package {
            tracking_number,
            seq,
        },
        created_at,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PackageStatus, TrackingNumber};
    use crate::packages::StatusChanged;

    #[test]
    fn a_status_change_becomes_one_occurrence_with_its_seq() {
        let event_id = Uuid::from_u128(9);
        let changed = StatusChanged {
            package_id: Uuid::from_u128(1),
            tracking_number: TrackingNumber::parse("TRK1234567").expect("valid"),
            previous: PackageStatus::Pending,
            status: PackageStatus::InTransit,
            location: Some("Depot".into()),
            coordinates: None,
            version: 2,
            seq: 2,
            changed_at: "2026-12-06T10:00:00Z".parse().expect("time"),
        };
        let found = occurrences(event_id, &PackageEvent::StatusChanged(changed));
        assert_eq!(found.len(), 1);
        let one = &found[0];
        assert_eq!(
            (one.kind.as_str(), one.subject.seq()),
            ("status_changed", Some(2))
        );
        let body: Value = serde_json::from_slice(&one.body()).expect("JSON");
        assert_eq!(body["id"], event_id.to_string());
        assert_eq!(body["type"], "status_changed");
        assert_eq!(body["data"]["status"], "in_transit");
        assert_eq!(body["data"]["tracking_number"], "TRK1234567");
        assert_eq!(body["data"]["seq"], 2);
        assert_eq!(body["created_at"], "2026-12-06T10:00:00Z");
    }

    #[test]
    fn a_courier_going_quiet_becomes_one_occurrence_naming_the_courier() {
        let courier_id = Uuid::from_u128(5);
        let heard_at: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().expect("time");
        let event = CourierEvent::PresenceChanged {
            courier_id,
            presence: crate::couriers::Presence::Offline,
            heard_at,
            battery_pct: Some(12.0),
        };
        let announced_at = "2026-12-06T10:10:00Z".parse().expect("time");
        let one =
            courier_occurrence(Uuid::from_u128(9), announced_at, &event).expect("an occurrence");
        assert_eq!(one.kind, "courier_presence");
        assert_eq!(one.subject, Subject::Courier { courier_id });
        let body: Value = serde_json::from_slice(&one.body()).expect("JSON");
        assert_eq!(body["id"], Uuid::from_u128(9).to_string());
        assert_eq!(body["type"], "courier_presence");
        assert_eq!(body["created_at"], "2026-12-06T10:00:00Z");
        assert_eq!(body["data"]["presence"], "offline");
        assert_eq!(body["data"]["courier_id"], courier_id.to_string());
        assert_eq!(body["data"]["battery_pct"], 12.0);
    }
}
