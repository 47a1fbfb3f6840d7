//! What a stored window's fixes mean beyond where things are: zones
//! entered and left ([`crate::geofences`]) and arrival estimates
//! ([`crate::arrivals`]), as notices. Neither may take the stored points
//! down with it: a permanent failure is logged, a transient one retried.

use super::flow::LocationFlow;
use super::{AppliedPoints, LocationError};
use crate::geofences::ZoneNotices;
use shared::couriers::CourierEvent;
use shared::wire::LocationsRecorded;

impl LocationFlow {
    /// The window's zone and arrival notices, and the packages whose view
    /// they changed.
    pub(super) async fn derived(
        &self,
        applied: &AppliedPoints,
        courier_events: &[CourierEvent],
    ) -> Result<ZoneNotices, LocationError> {
        let mut notices = self.zones(applied, courier_events).await?;
        let arriving = self.arrivals(courier_events).await?;
        notices.changed.extend(arriving.changed);
        notices.packages.extend(arriving.packages);
        Ok(notices)
    }

    /// Evaluates the window's stored fixes against the zones.
    async fn zones(
        &self,
        applied: &AppliedPoints,
        courier_events: &[CourierEvent],
    ) -> Result<crate::geofences::ZoneNotices, LocationError> {
        let recorded: Vec<&LocationsRecorded> = applied.events.iter().collect();
        let moved: Vec<&shared::couriers::CourierMoved> = courier_events
            .iter()
            .filter_map(|e| match e {
                CourierEvent::Moved(moved) => Some(moved),
                _ => None,
            })
            .collect();
        match self.geofencing.apply(&recorded, &moved).await {
            Ok(notices) => Ok(notices),
            Err(error) if error.is_transient() => Err(error.into()),
            // The points are stored: a zone evaluation that can never
            // succeed must not take them (and their events) down with it.
            Err(error) => {
                tracing::error!(%error, "zones not evaluated for a location window");
                Ok(crate::geofences::ZoneNotices::default())
            }
        }
    }

    /// Follows the window's courier fixes along their runs (estimates).
    async fn arrivals(
        &self,
        courier_events: &[CourierEvent],
    ) -> Result<crate::arrivals::ArrivalNotices, LocationError> {
        let moved: Vec<&shared::couriers::CourierMoved> = courier_events
            .iter()
            .filter_map(|e| match e {
                CourierEvent::Moved(moved) => Some(moved),
                _ => None,
            })
            .collect();
        match self.arrivals.apply(&moved).await {
            Ok(notices) => Ok(notices),
            Err(error) if shared::db::is_transient(&error) => Err(error.into()),
            // The points are stored: estimates that can never be made must
            // not take them (and their events) down with them.
            Err(error) => {
                tracing::error!(%error, "arrivals not estimated for a location window");
                Ok(crate::arrivals::ArrivalNotices::default())
            }
        }
    }
}
