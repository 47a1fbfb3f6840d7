//! What a courier's watchers (dispatchers, and the watchers of the packages
//! aboard) are told, on the events exchange as `courier.<id>.<kind>`.

use super::presence::Presence;
use crate::domain::Coordinates;
use crate::locations::Measurements;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum CourierEvent {
    Moved(CourierMoved),
    /// The device came back (`online`), or went quiet past a threshold.
    PresenceChanged {
        courier_id: Uuid,
        presence: Presence,
        heard_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        battery_pct: Option<f64>,
    },
    /// The courier entered, left, dwelled in or crossed a zone.
    Geofence(CourierNotice),
}

/// A zone event of a courier: kept (`courier_notices`) so a redelivered
/// window announces it again rather than anew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourierNotice {
    pub courier_id: Uuid,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub notice: crate::notices::Notice,
}

impl CourierEvent {
    pub fn courier_id(&self) -> Uuid {
        match self {
            Self::Moved(moved) => moved.courier_id,
            Self::PresenceChanged { courier_id, .. } => *courier_id,
            Self::Geofence(notice) => notice.courier_id,
        }
    }

    /// The last word of the routing key `courier.<id>.<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Moved(_) => "moved",
            Self::PresenceChanged { .. } => "presence",
            Self::Geofence(notice) => notice.notice.kind(),
        }
    }
}

/// A window of one courier's stored reports, announced on the events
/// exchange (`courier.<id>.moved`): its points, and the packages aboard that
/// moved with it (their watchers see the points as the package's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourierMoved {
    pub courier_id: Uuid,
    /// Oldest first; only reports with a fix.
    pub points: Vec<CourierFix>,
    /// The packages that follow the courier now.
    pub packages: Vec<Riding>,
}

/// A package that rides with the courier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Riding {
    pub tracking_number: String,
    /// Whether its outsiders (its customer, the public page) see it move
    /// with the courier ([`crate::packages::aboard::outsiders_see_courier`]).
    pub public: bool,
    /// Since when it rides with the courier: an older fix (a device
    /// uploading what it buffered) is not the package's.
    pub since_at: DateTime<Utc>,
}

/// One stored fix of a courier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourierFix {
    pub point_id: Uuid,
    pub coordinates: Coordinates,
    #[serde(flatten)]
    pub measurements: Measurements,
    pub recorded_at: DateTime<Utc>,
    /// Whether this fix became the courier's latest position.
    pub is_latest: bool,
}
