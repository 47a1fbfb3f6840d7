//! What the workers tell watchers without a command asking: zones
//! entered, left, dwelled in or crossed, and how an arrival looks
//! (estimate moved, at risk, late). Packages number them
//! ([`crate::packages::notices`]); couriers get the zone ones
//! ([`crate::couriers::CourierNotice`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An arrival estimate: the expected time, and the window it is likely in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Eta {
    pub at: DateTime<Utc>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

/// What happened, with what the watchers need to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    GeofenceEntered(ZoneEvent),
    GeofenceExited(ZoneEvent),
    /// Inside since `since` for at least the zone's `dwell_s`.
    GeofenceDwelled(ZoneEvent),
    /// A straight move between two fixes passed through the zone.
    GeofenceCrossed(ZoneEvent),
    EtaChanged {
        eta: Eta,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Eta>,
    },
    /// The estimate passed the promised time.
    DeliveryAtRisk {
        eta: Eta,
        promised_by: DateTime<Utc>,
    },
    /// The promised time passed without delivery.
    DeliveryLate {
        promised_by: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneEvent {
    pub zone_id: Uuid,
    pub zone_name: String,
    /// The fix that decided it (absent when the package's watchers may not
    /// see its courier's position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// When the stay began (entered, dwelled); when it ended (exited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// Every notice kind: a numbered event of one of these has its content in
/// `package_notices`.
pub const KINDS: [&str; 7] = [
    "geofence_entered",
    "geofence_exited",
    "geofence_dwelled",
    "geofence_crossed",
    "eta_changed",
    "delivery_at_risk",
    "delivery_late",
];

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GeofenceEntered(_) => "geofence_entered",
            Self::GeofenceExited(_) => "geofence_exited",
            Self::GeofenceDwelled(_) => "geofence_dwelled",
            Self::GeofenceCrossed(_) => "geofence_crossed",
            Self::EtaChanged { .. } => "eta_changed",
            Self::DeliveryAtRisk { .. } => "delivery_at_risk",
            Self::DeliveryLate { .. } => "delivery_late",
        }
    }

    /// The notice's fields without its kind, for a frame's `data`.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        fields.remove("kind");
        fields
    }
}
