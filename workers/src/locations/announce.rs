//! A window's points announced as soon as PostgreSQL numbered them, before
//! their MongoDB history, zones, arrival estimates and audit trail are
//! written: live watchers wait on the numbering only, not on the rest of the
//! window.
//!
//! Why that is safe:
//! - the numbering is committed, so every announced seq is final; the
//!   broadcaster treats a seq numbered but not stored yet as in flight
//!   (`broadcaster/src/streams.rs`) and reads it back once it is stored;
//! - the moved packages' views are invalidated first, so a watcher that reads
//!   after the announcement sees the new position (as with every event);
//! - a crash before the rest is written redelivers the window: its points
//!   keep their numbers and are announced again (event consumers are
//!   at-least-once and deduplicate by seq or event id);
//! - a window retried after a transient error, or applied one message at a
//!   time after a permanent one, announces each point once ([`Announced`]);
//! - a message whose history can never be written (a document MongoDB
//!   cannot encode; points are validated at the edge, so not seen in
//!   practice) is dead-lettered with its points numbered and announced:
//!   PostgreSQL held them before as well, and a re-drive stores them.

use super::{AppliedPoints, LocationError};
use crate::runner::Runner;
use shared::wire::{Envelope, LocationBatch, LocationsRecorded, PackageEvent};
use std::collections::HashSet;
use std::sync::Mutex;
use uuid::Uuid;

/// The points a window has announced so far, by point id.
#[derive(Default)]
pub struct Announced(Mutex<HashSet<Uuid>>);

impl Announced {
    /// The events with only the points not announced yet (events left with
    /// none are dropped).
    fn fresh(&self, events: &[LocationsRecorded]) -> Vec<LocationsRecorded> {
        let announced = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        events
            .iter()
            .filter_map(|event| {
                let points: Vec<_> = event
                    .points
                    .iter()
                    .filter(|p| !announced.contains(&p.point_id))
                    .cloned()
                    .collect();
                (!points.is_empty()).then(|| LocationsRecorded {
                    points,
                    ..event.clone()
                })
            })
            .collect()
    }

    fn remember(&self, events: &[LocationsRecorded]) {
        let mut announced = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        announced.extend(
            events
                .iter()
                .flat_map(|e| e.points.iter().map(|p| p.point_id)),
        );
    }

    /// Invalidates the moved packages' views and publishes the window's
    /// point events not announced yet, confirmed, under `first`'s envelope.
    pub(super) async fn announce(
        &self,
        runner: &Runner,
        first: &Envelope<LocationBatch>,
        applied: &AppliedPoints,
    ) -> Result<(), LocationError> {
        let fresh = self.fresh(&applied.events);
        if fresh.is_empty() {
            return Ok(());
        }
        let messages: Vec<_> = fresh
            .iter()
            .filter_map(|event| {
                let event = first.with_body(PackageEvent::LocationsRecorded(event.clone()));
                runner
                    .event_message(&event)
                    .inspect_err(|error| tracing::error!(%error, "cannot encode an event"))
                    .ok()
            })
            .collect();
        runner.invalidator.invalidate(applied.moved.clone()).await;
        runner.publish_early(&messages).await?;
        self.remember(&fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::wire::RecordedPoint;

    fn event(tn: &str, ids: &[Uuid]) -> LocationsRecorded {
        LocationsRecorded {
            package_id: Uuid::nil(),
            tracking_number: shared::domain::TrackingNumber::parse(tn).expect("a tracking number"),
            points: ids
                .iter()
                .enumerate()
                .map(|(i, id)| RecordedPoint {
                    point_id: *id,
                    coordinates: shared::domain::Coordinates::new(52.0, 13.0).expect("coordinates"),
                    address: None,
                    measurements: Default::default(),
                    recorded_at: chrono::Utc::now(),
                    is_latest: false,
                    seq: i as i64 + 1,
                })
                .collect(),
        }
    }

    #[test]
    fn each_point_is_announced_once_across_attempts() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let announced = Announced::default();
        let first = vec![event("DT0001", &[a, b])];
        assert_eq!(announced.fresh(&first).len(), 1);
        announced.remember(&first);
        // A retry with one more point: only that one is fresh; an event whose
        // points were all announced is dropped.
        let retry = vec![event("DT0001", &[a, b, c]), event("DT0002", &[a])];
        let fresh = announced.fresh(&retry);
        assert_eq!(fresh.len(), 1);
        let ids: Vec<Uuid> = fresh[0].points.iter().map(|p| p.point_id).collect();
        assert_eq!(ids, vec![c]);
    }

    #[test]
    fn nothing_is_remembered_until_announced() {
        let a = Uuid::new_v4();
        let announced = Announced::default();
        let events = vec![event("DT0001", &[a])];
        assert_eq!(announced.fresh(&events).len(), 1);
        // Not remembered (the publish failed): still fresh on the retry.
        assert_eq!(announced.fresh(&events).len(), 1);
    }
}
