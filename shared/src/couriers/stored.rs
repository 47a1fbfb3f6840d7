//! The courier history in MongoDB ([`COURIER_HISTORY`]): one
//! [`CourierHistoryDoc`] per stored fix, `_id` = the point id, so a
//! redelivered or re-posted report is stored once. A package's trail while
//! it follows a courier is read from here ([`carried_history`]).

use crate::locations::report::{Attributes, CourierPoint};
use crate::locations::stored::{bson_time, GeoPoint};
use crate::locations::Measurements;
use chrono::{DateTime, Utc};
use mongodb::bson::{doc, DateTime as BsonTime, Document};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const COURIER_HISTORY: &str = "courier_history";

/// One stored fix of a courier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourierHistoryDoc {
    #[serde(rename = "_id")]
    pub point_id: String,
    pub courier_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub location: GeoPoint,
    pub recorded_at: BsonTime,
    pub received_at: BsonTime,
    #[serde(flatten)]
    pub measurements: Measurements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl CourierHistoryDoc {
    /// The stored form of a report with a fix (`None` for a heartbeat).
    pub fn new(point: &CourierPoint) -> Option<Self> {
        let coordinates = point.coordinates?;
        Some(Self {
            point_id: point.point_id.to_string(),
            courier_id: point.courier_id.to_string(),
            device_id: point.device_id.map(|d| d.to_string()),
            location: GeoPoint::new(coordinates.latitude(), coordinates.longitude()),
            recorded_at: bson_time(point.recorded_at),
            received_at: bson_time(point.received_at),
            measurements: point.measurements,
            battery_pct: point.battery.map(|b| b.level_pct),
            attributes: point.attributes.clone(),
        })
    }
}

impl CourierHistoryDoc {
    /// The fix as a history read shows it: a point of `package_id` (a
    /// package aboard), or of no package (the courier's own trail).
    pub fn view(&self, package_id: Option<String>) -> crate::locations::render::LocationView {
        crate::locations::render::LocationView::of_fix(
            self.point_id.clone(),
            package_id,
            &self.location,
            (self.recorded_at, self.received_at),
            self.measurements,
        )
    }
}

/// The index the courier reads rely on: a courier's fixes by time.
pub fn history_index() -> Document {
    doc! { "courier_id": 1, "recorded_at": -1 }
}

/// A courier's fixes between `since` and `until` (both optional, inclusive).
pub fn courier_history(
    courier_id: Uuid,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Document {
    let mut filter = doc! { "courier_id": courier_id.to_string() };
    if let Some(range) = time_range(since, until, None) {
        filter.insert("recorded_at", range);
    }
    filter
}

/// One stretch of a package aboard a courier: from `since`, until `until`
/// (open while it is still aboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Stretch {
    pub courier_id: Uuid,
    pub since_at: DateTime<Utc>,
    pub until_at: Option<DateTime<Utc>>,
}

/// The fixes of each stretch's courier during the stretch, within the
/// asked `since`/`until`; `None` when no stretch overlaps them.
pub fn carried_history(
    stretches: &[Stretch],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Option<Document> {
    let branches: Vec<Document> = stretches
        .iter()
        .filter_map(|stretch| {
            let from = since.map_or(stretch.since_at, |s| s.max(stretch.since_at));
            let range = time_range(Some(from), until, stretch.until_at)?;
            Some(doc! { "courier_id": stretch.courier_id.to_string(), "recorded_at": range })
        })
        .collect();
    (!branches.is_empty()).then(|| doc! { "$or": branches })
}

/// `since ≤ t ≤ until` and `t < before`; `None` when nothing can match.
fn time_range(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
) -> Option<Document> {
    let mut range = Document::new();
    if let (Some(s), Some(b)) = (since, before) {
        if s >= b {
            return None;
        }
    }
    if let Some(since) = since {
        range.insert("$gte", bson_time(since));
    }
    if let Some(until) = until {
        range.insert("$lte", bson_time(until));
    }
    if let Some(before) = before {
        range.insert("$lt", bson_time(before));
    }
    if range.is_empty() {
        // Any time: an always-true condition keeps the filter's shape.
        range.insert("$exists", true);
    }
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_reads_its_couriers_points_only_while_aboard() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let stretches = [
            Stretch {
                courier_id: Uuid::from_u128(1),
                since_at: t(100),
                until_at: Some(t(200)),
            },
            Stretch {
                courier_id: Uuid::from_u128(2),
                since_at: t(200),
                until_at: None,
            },
        ];
        let filter = carried_history(&stretches, Some(t(150)), None).expect("overlaps");
        let branches = filter.get_array("$or").expect("branches");
        assert_eq!(branches.len(), 2);
        let first = branches[0].as_document().expect("doc");
        let range = first.get_document("recorded_at").expect("range");
        assert_eq!(range.get_datetime("$gte").ok(), Some(&bson_time(t(150))));
        assert_eq!(range.get_datetime("$lt").ok(), Some(&bson_time(t(200))));
        // Asked for after the first stretch ended: only the second is read.
        let later = carried_history(&stretches, Some(t(250)), None).expect("overlaps");
        assert_eq!(later.get_array("$or").map(Vec::len).ok(), Some(1));
        assert_eq!(carried_history(&stretches[..1], Some(t(300)), None), None);
    }
}
