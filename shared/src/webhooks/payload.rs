//! What a delivery POSTs: `{"id", "type", "created_at", "data"}`, where
//! `data` is what a watcher of the package sees of the event (the
//! `package_update` frame's `data`, rendered by the same code) plus the
//! package's `tracking_number` and the event's `seq`. Deliveries to one
//! endpoint are not ordered; `seq` orders them per package.

use crate::packages::render;
use crate::packages::PackageEvent;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One event of one package, as an endpoint gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub event_id: Uuid,
    pub kind: String,
    pub tracking_number: String,
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    pub data: Map<String, Value>,
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
        tracking_number,
        seq,
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
        assert_eq!((one.kind.as_str(), one.seq), ("status_changed", 2));
        let body: Value = serde_json::from_slice(&one.body()).expect("JSON");
        assert_eq!(body["id"], event_id.to_string());
        assert_eq!(body["type"], "status_changed");
        assert_eq!(body["data"]["status"], "in_transit");
        assert_eq!(body["data"]["tracking_number"], "TRK1234567");
        assert_eq!(body["data"]["seq"], 2);
        assert_eq!(body["created_at"], "2026-12-06T10:00:00Z");
    }
}
