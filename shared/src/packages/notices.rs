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

pub use crate::notices::{Eta, Notice, ZoneEvent, KINDS};

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
            | Notice::GeofenceCrossed(z) => (z.latitude, z.longitude),
            _ => (None, None),
        };
        let data = Data {
            status: None,
            location: None,
            latitude,
            longitude,
            timestamp: self.occurred_at,
            extra: {
                // Carried in the frame's own coordinates.
                let mut fields = self.notice.fields();
                fields.remove("latitude");
                fields.remove("longitude");
                fields
            },
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

/// A package's notices, oldest first, at most `limit`.
pub async fn of_package(
    db: impl sqlx::PgExecutor<'_>,
    package_id: Uuid,
    limit: i64,
) -> Result<Vec<NoticeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT package_id, seq, event_id, data, occurred_at FROM package_notices \
         WHERE package_id = $1 ORDER BY seq LIMIT $2",
    )
    .bind(package_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many notices these packages have (dt-bench's check that zones were hit).
pub async fn count_for(
    db: impl sqlx::PgExecutor<'_>,
    tracking_numbers: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM package_notices n JOIN packages p ON p.id = n.package_id \
         WHERE p.tracking_number = ANY($1)",
    )
    .bind(tracking_numbers)
    .fetch_one(db)
    .await
}

/// A notice as `GET /packages/{tn}/events?include=notices` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    pub event_id: Uuid,
    /// `geofence_entered`, `geofence_exited`, `geofence_dwelled`,
    /// `geofence_crossed`, `eta_changed`, `delivery_at_risk`, `delivery_late`.
    pub kind: &'static str,
    pub seq: i64,
    pub timestamp: DateTime<Utc>,
    /// The notice's own fields (`zone_id`, `zone_name`, `eta`, ...).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl From<NoticeRow> for NoticeView {
    fn from(row: NoticeRow) -> Self {
        Self {
            event_id: row.event_id,
            kind: row.data.0.kind(),
            seq: row.seq,
            timestamp: row.occurred_at,
            data: row.data.0.fields(),
        }
    }
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
                latitude: Some(52.0),
                longitude: Some(13.0),
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
