//! What a package's watchers are told, on the events exchange: its
//! creation, its status changes, its points, and refused commands. The same
//! values are the outcome its requester gets ([`crate::wire::Event`]).

use super::PackageView;
use crate::domain::{Coordinates, PackageStatus, RejectReason, TrackingNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a package's watchers are told: published on the events exchange,
/// and the outcome of a package command for its requester.
// A creation carries the whole package: it is the largest variant by far,
// and boxing it would cost every creation an allocation to save stack
// space in values that live for one message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum PackageEvent {
    PackageCreated(PackageCreated),
    StatusChanged(StatusChanged),
    LocationsRecorded(crate::locations::LocationsRecorded),
    /// A zone or arrival event ([`super::notices`]).
    Notice(super::notices::PackageNotice),
    /// Its destination or promised time changed (no watcher frame: the
    /// arrival notices that follow say what it means).
    PlanChanged(PlanChanged),
    CommandRejected {
        tracking_number: TrackingNumber,
        reason: RejectReason,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageCreated {
    pub package: PackageView,
}

/// A package's destination and promise after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanChanged {
    pub tracking_number: TrackingNumber,
    pub destination: Option<Coordinates>,
    pub promised_by: Option<DateTime<Utc>>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub previous: PackageStatus,
    pub status: PackageStatus,
    pub location: Option<String>,
    pub coordinates: Option<Coordinates>,
    /// The package's version after this change: consecutive per package.
    pub version: i64,
    /// The change's number in the package's event sequence (creation, status
    /// changes and location points), for gap-free replays.
    #[serde(default)]
    pub seq: i64,
    pub changed_at: DateTime<Utc>,
}

impl PackageEvent {
    pub fn tracking_number(&self) -> &str {
        match self {
            Self::PackageCreated(e) => &e.package.tracking_number,
            Self::StatusChanged(e) => e.tracking_number.as_str(),
            Self::LocationsRecorded(e) => e.tracking_number.as_str(),
            Self::Notice(n) => n.tracking_number.as_str(),
            Self::PlanChanged(e) => e.tracking_number.as_str(),
            Self::CommandRejected {
                tracking_number, ..
            } => tracking_number.as_str(),
        }
    }

    /// The last word of the routing key `package.<tracking_number>.<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PackageCreated(_) => "created",
            Self::StatusChanged(_) => "status_changed",
            Self::LocationsRecorded(_) => "location",
            Self::Notice(n) => n.notice.kind(),
            Self::PlanChanged(_) => "plan_changed",
            Self::CommandRejected { .. } => "rejected",
        }
    }
}
