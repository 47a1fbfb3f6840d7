//! Live events as `package_update` frames, through the same renderers as
//! their read-back ([`shared::packages::render`],
//! [`shared::locations::render`]).

use shared::packages::render;
use shared::wire::{Envelope, PackageEvent};

/// The `(seq, JSON text)` of each update a live event carries (a window's
/// points of one package travel as one event); none for events clients do
/// not see (rejected commands).
pub fn encode(event: &Envelope<PackageEvent>) -> Vec<(i64, String)> {
    let update = match &event.body {
        PackageEvent::PackageCreated(created) => render::created(event.event_id, created),
        PackageEvent::StatusChanged(changed) => render::changed(event.event_id, changed),
        PackageEvent::LocationsRecorded(recorded) => {
            let tracking_number = recorded.tracking_number.as_str();
            let rendered = recorded.points.iter().filter_map(|point| {
                let update = shared::locations::render::update(tracking_number, point);
                Some((update.seq, update.render()?))
            });
            return rendered.collect();
        }
        PackageEvent::Notice(notice) => {
            let update = notice.update();
            return update
                .render()
                .map(|text| (update.seq, text))
                .into_iter()
                .collect();
        }
        // Rejections: nothing for watchers.
        PackageEvent::CommandRejected { .. } | PackageEvent::PlanChanged(_) => return Vec::new(),
    };
    update
        .render()
        .map(|text| (update.seq, text))
        .into_iter()
        .collect()
}
