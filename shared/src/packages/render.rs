//! What watchers see of a package's creation and status changes: one
//! `package_update` frame ([`crate::frames`]) whether the event arrives live
//! or is read back for a replay; and a package's current state for a
//! resuming feed.

use super::feed::StateRow;
use super::{PackageCreated, StatusChanged, StatusEventRow};
use crate::frames::{Data, PackageState, PackageUpdate};
use uuid::Uuid;

/// A creation (the first event) or a status change.
fn status_update<'a>(
    tracking_number: &'a str,
    event_id: Uuid,
    seq: i64,
    first: bool,
    data: Data<'a>,
) -> PackageUpdate<'a> {
    let kind = if first { "created" } else { "status_changed" };
    PackageUpdate::new(tracking_number, kind, event_id.to_string(), seq, data)
}

/// A package's creation, live.
pub fn created(event_id: Uuid, created: &PackageCreated) -> PackageUpdate<'_> {
    let package = &created.package;
    let data = Data {
        status: Some(package.status.as_str()),
        location: package.current_location.as_deref(),
        latitude: package.latitude,
        longitude: package.longitude,
        timestamp: package.created_at,
        extra: (),
    };
    status_update(&package.tracking_number, event_id, 1, true, data)
}

/// A status change, live.
pub fn changed(event_id: Uuid, changed: &StatusChanged) -> PackageUpdate<'_> {
    let data = Data {
        status: Some(changed.status.as_str()),
        location: changed.location.as_deref(),
        latitude: changed.coordinates.map(|c| c.latitude()),
        longitude: changed.coordinates.map(|c| c.longitude()),
        timestamp: changed.changed_at,
        extra: (),
    };
    let tracking_number = changed.tracking_number.as_str();
    status_update(tracking_number, event_id, changed.seq, false, data)
}

/// A creation or status change read back (`None` for a row from before
/// event numbers, which no replay asks for).
pub fn stored<'a>(tracking_number: &'a str, row: &'a StatusEventRow) -> Option<PackageUpdate<'a>> {
    let data = Data {
        status: Some(row.status.as_str()),
        location: row.location.as_deref(),
        latitude: row.latitude,
        longitude: row.longitude,
        timestamp: row.occurred_at,
        extra: (),
    };
    let first = row.previous_status.is_none();
    Some(status_update(
        tracking_number,
        row.event_id,
        row.seq?,
        first,
        data,
    ))
}

/// A package as it stands, for a feed client that resumes.
pub fn state(row: &StateRow) -> PackageState<'_> {
    let data = Data {
        status: Some(row.status.as_str()),
        location: row.current_location.as_deref(),
        latitude: row.latitude,
        longitude: row.longitude,
        timestamp: row.updated_at,
        extra: (),
    };
    PackageState::new(&row.tracking_number, row.event_seq, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PackageStatus, TrackingNumber};

    /// A status change renders the same frame live and read back.
    #[test]
    fn a_change_reads_back_as_it_went_out_live() {
        let event_id = Uuid::new_v4();
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let live = StatusChanged {
            package_id: Uuid::new_v4(),
            tracking_number: TrackingNumber::parse("TRK12345").unwrap(),
            previous: PackageStatus::Pending,
            status: PackageStatus::InTransit,
            location: Some("Depot".into()),
            coordinates: crate::domain::Coordinates::new(1.5, 2.5).ok(),
            version: 2,
            seq: 4,
            changed_at: at,
        };
        let row = StatusEventRow {
            event_id,
            seq: Some(4),
            status: "in_transit".into(),
            previous_status: Some("pending".into()),
            location: Some("Depot".into()),
            latitude: Some(1.5),
            longitude: Some(2.5),
            version: 2,
            occurred_at: at,
            principal: None,
        };
        let live = changed(event_id, &live).render();
        assert!(live.is_some());
        assert_eq!(live, stored("TRK12345", &row).and_then(|u| u.render()));
    }
}
