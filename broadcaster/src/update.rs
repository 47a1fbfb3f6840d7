//! Live events as `package_update` frames (the frame itself is
//! [`shared::frames`]).

use shared::frames::{Data, PackageUpdate};
use shared::wire::{Envelope, PackageEvent};

/// The `(seq, JSON text)` of each update a live event carries (a window's
/// points of one package travel as one event); none for events clients do
/// not see (rejected commands).
pub fn encode(event: &Envelope<PackageEvent>) -> Vec<(i64, String)> {
    let tracking_number = event.body.tracking_number();
    let kind = event.body.kind();
    let status = match &event.body {
        PackageEvent::PackageCreated(created) => PackageUpdate::new(
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
                extra: (),
            },
        ),
        PackageEvent::StatusChanged(changed) => PackageUpdate::new(
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
                extra: (),
            },
        ),
        PackageEvent::LocationsRecorded(recorded) => {
            let rendered = recorded.points.iter().filter_map(|point| {
                let update = shared::locations::render::update(tracking_number, point);
                Some((update.seq, update.render()?))
            });
            return rendered.collect();
        }
        // Rejections: nothing for watchers.
        PackageEvent::CommandRejected { .. } => return Vec::new(),
    };
    status
        .render()
        .map(|text| (status.seq, text))
        .into_iter()
        .collect()
}
