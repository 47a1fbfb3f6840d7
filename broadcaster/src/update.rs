//! The `package_update` message: the original shape plus `kind`, `seq` and
//! `event_id`.

use serde::Serialize;
use shared::wire::{Envelope, Event};

#[derive(Serialize)]
struct PackageUpdate<'a> {
    r#type: &'static str,
    tracking_number: &'a str,
    kind: &'static str,
    event_id: String,
    /// The event's number in the package's sequence: creation is 1, and each
    /// status change or location point takes the next.
    seq: i64,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    status: Option<&'static str>,
    location: Option<&'a str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    timestamp: chrono::DateTime<chrono::Utc>,
}

/// The JSON text for an event, or `None` for events clients do not see
/// (rejected commands).
pub fn encode(event: &Envelope<Event>) -> Option<String> {
    let (seq, data) = match &event.body {
        Event::PackageCreated(created) => (
            1,
            Data {
                status: Some(created.package.status.as_str()),
                location: created.package.current_location.as_deref(),
                latitude: created.package.latitude,
                longitude: created.package.longitude,
                timestamp: created.package.created_at,
            },
        ),
        Event::StatusChanged(changed) => (
            changed.seq,
            Data {
                status: Some(changed.status.as_str()),
                location: changed.location.as_deref(),
                latitude: changed.coordinates.map(|c| c.latitude()),
                longitude: changed.coordinates.map(|c| c.longitude()),
                timestamp: changed.changed_at,
            },
        ),
        Event::LocationRecorded(point) => (
            point.seq,
            Data {
                status: None,
                location: point.address.as_deref(),
                latitude: Some(point.coordinates.latitude()),
                longitude: Some(point.coordinates.longitude()),
                timestamp: point.recorded_at,
            },
        ),
        Event::CommandRejected { .. } => return None,
    };
    let update = PackageUpdate {
        r#type: "package_update",
        tracking_number: event.body.tracking_number(),
        kind: event.body.kind(),
        event_id: match &event.body {
            Event::LocationRecorded(point) => point.point_id.to_string(),
            _ => event.event_id.to_string(),
        },
        seq,
        data,
    };
    serde_json::to_string(&update).ok()
}
