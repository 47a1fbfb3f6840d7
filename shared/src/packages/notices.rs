//! What the workers tell a package's watchers without a command asking:
//! zones entered, left, dwelled in or crossed, and how its arrival looks
//! (estimate moved, at risk, late). Each notice takes the package's next
//! `seq` like every other event, is kept in `package_notices` (so a replay
//! and `GET /packages/{tn}/events?include=notices` read it back) and
//! renders the same `package_update` frame live or read back.

use crate::domain::TrackingNumber;
use crate::frames::{Data, PackageUpdate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An arrival estimate: the expected time, and the window it is likely in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The fix that decided it.
    pub latitude: f64,
    pub longitude: f64,
    /// When the stay began (entered, dwelled); when it ended (exited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

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

/// One numbered notice of one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageNotice {
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub event_id: Uuid,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub notice: Notice,
}

impl PackageNotice {
    /// The frame watchers get, live or read back.
    pub fn update(&self) -> PackageUpdate<'_, serde_json::Map<String, serde_json::Value>> {
        let (latitude, longitude) = match &self.notice {
            Notice::GeofenceEntered(z)
            | Notice::GeofenceExited(z)
            | Notice::GeofenceDwelled(z)
            | Notice::GeofenceCrossed(z) => (Some(z.latitude), Some(z.longitude)),
            _ => (None, None),
        };
        let data = Data {
            status: None,
            location: None,
            latitude,
            longitude,
            timestamp: self.occurred_at,
            extra: self.notice.fields(),
        };
        PackageUpdate::new(
            self.tracking_number.as_str(),
            self.notice.kind(),
            self.event_id.to_string(),
            self.seq,
            data,
        )
    }
}

/// A stored notice (`package_notices`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeRow {
    pub package_id: Uuid,
    pub seq: i64,
    pub event_id: Uuid,
    pub data: sqlx::types::Json<Notice>,
    pub occurred_at: DateTime<Utc>,
}

impl NoticeRow {
    pub fn notice(self, tracking_number: TrackingNumber) -> PackageNotice {
        PackageNotice {
            package_id: self.package_id,
            tracking_number,
            event_id: self.event_id,
            seq: self.seq,
            occurred_at: self.occurred_at,
            notice: self.data.0,
        }
    }
}

/// The notices of a package numbered in `[from, end)`.
pub async fn between(
    db: impl sqlx::PgExecutor<'_>,
    package_id: Uuid,
    from: i64,
    end: i64,
) -> Result<Vec<NoticeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT package_id, seq, event_id, data, occurred_at FROM package_notices \
         WHERE package_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
    )
    .bind(package_id)
    .bind(from)
    .bind(end)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_renders_the_same_frame_live_and_read_back() {
        let notice = PackageNotice {
            package_id: Uuid::from_u128(1),
            tracking_number: TrackingNumber::parse("TRK12345").unwrap(),
            event_id: Uuid::from_u128(2),
            seq: 7,
            occurred_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            notice: Notice::GeofenceEntered(ZoneEvent {
                zone_id: Uuid::from_u128(3),
                zone_name: "Depot".into(),
                latitude: 52.0,
                longitude: 13.0,
                since: None,
            }),
        };
        let frame: serde_json::Value =
            serde_json::from_str(&notice.update().render().unwrap()).unwrap();
        assert_eq!(frame["kind"], "geofence_entered");
        assert_eq!(frame["seq"], 7);
        assert_eq!(frame["data"]["zone_name"], "Depot");
        assert_eq!(frame["data"]["latitude"], 52.0);
        assert!(frame["data"].get("kind").is_none());
        // Stored as JSON, read back as the same notice (and frame).
        let stored = serde_json::to_string(&notice.notice).unwrap();
        let back: Notice = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, notice.notice);
        // Carried as MessagePack on the broker.
        let bytes = rmp_serde::to_vec_named(&notice).unwrap();
        let carried: PackageNotice = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(carried, notice);
    }
}
