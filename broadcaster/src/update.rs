//! The `package_update` message: the original shape plus `kind`, `seq` and
//! `event_id`. Live events and replayed ones are rendered by the same code.
//! And a package as it is now, for a feed that resumes (sent in
//! `package_states` frames, see [`crate::protocol::package_states`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::wire::{Envelope, Event};

/// One update as clients see it.
#[derive(Serialize)]
pub struct PackageUpdate<'a> {
    r#type: &'static str,
    pub tracking_number: &'a str,
    pub kind: &'a str,
    pub event_id: String,
    /// The event's number in the package's sequence: creation is 1, and each
    /// status change or location point takes the next.
    pub seq: i64,
    pub data: Data<'a>,
}

#[derive(Serialize)]
pub struct Data<'a> {
    pub status: Option<&'a str>,
    pub location: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub timestamp: DateTime<Utc>,
}

impl<'a> PackageUpdate<'a> {
    pub fn new(
        tracking_number: &'a str,
        kind: &'a str,
        event_id: String,
        seq: i64,
        data: Data<'a>,
    ) -> Self {
        Self {
            r#type: "package_update",
            tracking_number,
            kind,
            event_id,
            seq,
            data,
        }
    }

    pub fn render(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
}

/// A package as it stands after event `seq`: what a resuming feed client
/// gets for each package that changed while it was away.
#[derive(Serialize)]
pub struct PackageState<'a> {
    pub tracking_number: &'a str,
    pub seq: i64,
    /// `timestamp` is when the package last changed.
    pub data: Data<'a>,
}

impl<'a> PackageState<'a> {
    pub fn new(tracking_number: &'a str, seq: i64, data: Data<'a>) -> Self {
        Self {
            tracking_number,
            seq,
            data,
        }
    }
}

/// The `(seq, JSON text)` of each update a live event carries (a window's
/// points of one package travel as one event); none for events clients do
/// not see (rejected commands).
pub fn encode(event: &Envelope<Event>) -> Vec<(i64, String)> {
    let tracking_number = event.body.tracking_number();
    let kind = event.body.kind();
    let updates = match &event.body {
        Event::PackageCreated(created) => vec![PackageUpdate::new(
            tracking_number,
            kind,
            event.event_id.to_string(),
            1,
            Data {
                status: Some(created.package.status.as_str()),
                location: created.package.current_location.as_deref(),
                latitude: created.package.latitude,
                longitude: created.package.longitude,
                timestamp: created.package.created_at,
            },
        )],
        Event::StatusChanged(changed) => vec![PackageUpdate::new(
            tracking_number,
            kind,
            event.event_id.to_string(),
            changed.seq,
            Data {
                status: Some(changed.status.as_str()),
                location: changed.location.as_deref(),
                latitude: changed.coordinates.map(|c| c.latitude()),
                longitude: changed.coordinates.map(|c| c.longitude()),
                timestamp: changed.changed_at,
            },
        )],
        Event::LocationsRecorded(recorded) => recorded
            .points
            .iter()
            .map(|point| {
                PackageUpdate::new(
                    tracking_number,
                    kind,
                    point.point_id.to_string(),
                    point.seq,
                    Data {
                        status: None,
                        location: point.address.as_deref(),
                        latitude: Some(point.coordinates.latitude()),
                        longitude: Some(point.coordinates.longitude()),
                        timestamp: point.recorded_at,
                    },
                )
            })
            .collect(),
        // Rejections and account outcomes: nothing for watchers.
        _ => Vec::new(),
    };
    updates
        .iter()
        .filter_map(|update| Some((update.seq, update.render()?)))
        .collect()
}
