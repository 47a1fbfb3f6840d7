//! The location documents in MongoDB, and the only code that names their
//! fields: every service that writes or reads them goes through these types
//! and query builders.
//!
//! - [`HISTORY`]: one [`HistoryDoc`] per point, `_id` = the point id, so a
//!   redelivered or re-posted point is stored once.
//! - [`LATEST`]: one [`LatestDoc`] per package, `_id` = the tracking number,
//!   2dsphere-indexed for the area queries; advanced only by a newer fix.

use super::point::{LocationPoint, Measurements, RecordedPoint};
use crate::domain::Coordinates;
use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, DateTime as BsonTime, Document};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const HISTORY: &str = "location_history";
pub const LATEST: &str = "latest_positions";

/// One stored point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryDoc {
    #[serde(rename = "_id")]
    pub point_id: String,
    /// `None` only for points of a package the worker could not number.
    pub package_id: Option<String>,
    pub tracking_number: String,
    pub location: GeoPoint,
    pub recorded_at: BsonTime,
    pub received_at: BsonTime,
    /// The point's number in its package's event sequence.
    #[serde(default)]
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(flatten)]
    pub measurements: Measurements,
}

impl HistoryDoc {
    pub fn new(point: &LocationPoint, package_id: Option<Uuid>, seq: i64) -> Self {
        Self {
            point_id: point.point_id.to_string(),
            package_id: package_id.map(|id| id.to_string()),
            tracking_number: point.tracking_number.as_str().to_owned(),
            location: GeoPoint::new(point.coordinates.latitude(), point.coordinates.longitude()),
            recorded_at: bson_time(point.recorded_at),
            received_at: bson_time(point.received_at),
            seq,
            address: point.address.as_ref().map(|a| a.as_str().to_owned()),
            measurements: point.measurements,
        }
    }

    /// The point as a live update carries it (read back for a replay).
    pub fn recorded(&self) -> Option<RecordedPoint> {
        Some(RecordedPoint {
            point_id: self.point_id.parse().ok()?,
            coordinates: self.location.coordinates()?,
            address: self.address.clone(),
            measurements: self.measurements,
            recorded_at: chrono_time(self.recorded_at),
            is_latest: false,
            seq: self.seq,
        })
    }
}

/// A package's latest position. `distance_m` is only in the answers of a
/// near query (its `$geoNear` adds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestDoc {
    #[serde(rename = "_id")]
    pub tracking_number: String,
    pub package_id: Option<String>,
    pub location: GeoPoint,
    pub recorded_at: BsonTime,
    #[serde(default)]
    pub point_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub distance_m: Option<f64>,
}

/// A GeoJSON point: longitude first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    #[serde(rename = "type")]
    pub kind: String,
    pub coordinates: Vec<f64>,
}

impl GeoPoint {
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            kind: "Point".to_owned(),
            coordinates: vec![longitude, latitude],
        }
    }

    pub fn latitude(&self) -> Option<f64> {
        self.coordinates.get(1).copied()
    }

    pub fn longitude(&self) -> Option<f64> {
        self.coordinates.first().copied()
    }

    fn coordinates(&self) -> Option<Coordinates> {
        Coordinates::new(self.latitude()?, self.longitude()?).ok()
    }

    fn bson(latitude: f64, longitude: f64) -> Bson {
        mongodb::bson::to_bson(&Self::new(latitude, longitude)).unwrap_or(Bson::Null)
    }
}

/// The documents that read as `T`; any other is skipped with a warning, so
/// one damaged document costs its own answer, not the whole read.
pub fn readable<T: serde::de::DeserializeOwned>(documents: Vec<Document>) -> Vec<T> {
    documents
        .into_iter()
        .filter_map(|document| match mongodb::bson::from_document(document) {
            Ok(read) => Some(read),
            Err(error) => {
                tracing::warn!(%error, "skipping an unreadable location document");
                None
            }
        })
        .collect()
}

pub fn bson_time(time: DateTime<Utc>) -> BsonTime {
    BsonTime::from_millis(time.timestamp_millis())
}

pub fn chrono_time(time: BsonTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// The index keys each collection's queries rely on. The history gets no
/// 2dsphere index: it multiplies insert cost (docs/PITFALLS.md) and no query
/// needs it; the small latest-positions collection does.
pub fn history_index() -> Document {
    doc! { "tracking_number": 1, "recorded_at": -1 }
}

pub fn latest_index() -> Document {
    doc! { "location": "2dsphere" }
}

/// A package's points recorded in `[since, until]` (either end open).
pub fn package_history(
    tracking_number: &str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Document {
    let mut filter = doc! { "tracking_number": tracking_number };
    let mut range = Document::new();
    if let Some(since) = since {
        range.insert("$gte", bson_time(since));
    }
    if let Some(until) = until {
        range.insert("$lte", bson_time(until));
    }
    if !range.is_empty() {
        filter.insert("recorded_at", range);
    }
    filter
}

/// The history's read order: newest fix first, ties by point id.
pub fn newest_first() -> Document {
    doc! { "recorded_at": -1, "_id": -1 }
}

/// A package's points numbered in `[from, end)`.
pub fn package_seqs(tracking_number: &str, from: i64, end: i64) -> Document {
    doc! { "tracking_number": tracking_number, "seq": { "$gte": from, "$lt": end } }
}

/// The points of any of these packages.
pub fn packages_points(tracking_numbers: &[String]) -> Document {
    doc! { "tracking_number": { "$in": tracking_numbers } }
}

/// These points, by id.
pub fn points(point_ids: &[String]) -> Document {
    doc! { "_id": { "$in": point_ids } }
}

/// One statement of an `update` command: sets a package's latest position
/// unless a newer one is stored. Matching only an older stored position
/// makes a newer one collide on `_id` (duplicate key): the expected no-op.
pub fn latest_upsert(
    tracking_number: &str,
    package_id: Uuid,
    (latitude, longitude): (f64, f64),
    recorded_at: DateTime<Utc>,
    point_id: Option<Uuid>,
) -> Document {
    let recorded_at = bson_time(recorded_at);
    doc! {
        "q": { "_id": tracking_number, "recorded_at": { "$lt": recorded_at } },
        "u": { "$set": {
            "package_id": package_id.to_string(),
            "location": GeoPoint::bson(latitude, longitude),
            "recorded_at": recorded_at,
            "point_id": point_id.map(|id| id.to_string()),
        }},
        "upsert": true,
    }
}

/// Latest positions within `radius_m` of `center`, nearest first, each with
/// its `distance_m`.
pub fn near_pipeline(center: Coordinates, radius_m: f64, limit: i64) -> Vec<Document> {
    vec![
        doc! { "$geoNear": {
            "near": GeoPoint::bson(center.latitude(), center.longitude()),
            "distanceField": "distance_m",
            "maxDistance": radius_m,
            "spherical": true,
            "key": "location",
        }},
        doc! { "$limit": limit },
    ]
}

/// Latest positions inside a `[min_lon, min_lat, max_lon, max_lat]` box, as a
/// GeoJSON polygon: understood by a 2dsphere index on real MongoDB and by the
/// stand-in.
pub fn within_box([min_lon, min_lat, max_lon, max_lat]: [f64; 4]) -> Document {
    let corner = |lon: f64, lat: f64| Bson::Array(vec![lon.into(), lat.into()]);
    let ring = vec![
        corner(min_lon, min_lat),
        corner(max_lon, min_lat),
        corner(max_lon, max_lat),
        corner(min_lon, max_lat),
        corner(min_lon, min_lat),
    ];
    doc! { "location": { "$geoWithin": { "$geometry": { "type": "Polygon", "coordinates": [ring] } } } }
}

/// The within query's order: by tracking number.
pub fn by_tracking_number() -> Document {
    doc! { "_id": 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TrackingNumber;

    fn point() -> LocationPoint {
        LocationPoint {
            point_id: Uuid::from_u128(7),
            tracking_number: TrackingNumber::parse("TRK1234").expect("valid"),
            coordinates: Coordinates::new(52.5, 13.4).expect("valid"),
            address: None,
            measurements: Measurements {
                accuracy_m: Some(4.0),
                ..Measurements::default()
            },
            recorded_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default(),
            received_at: DateTime::from_timestamp_millis(1_700_000_001_000).unwrap_or_default(),
            source: None,
        }
    }

    #[test]
    fn a_stored_point_has_the_documented_fields_and_reads_back() {
        let stored = HistoryDoc::new(&point(), Some(Uuid::from_u128(9)), 3);
        let document = mongodb::bson::to_document(&stored).expect("encodes");
        let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "_id",
                "accuracy_m",
                "location",
                "package_id",
                "received_at",
                "recorded_at",
                "seq",
                "tracking_number"
            ]
        );
        assert_eq!(
            document.get_document("location").expect("geojson"),
            &doc! { "type": "Point", "coordinates": [13.4, 52.5] }
        );
        let back: HistoryDoc = mongodb::bson::from_document(document).expect("decodes");
        assert_eq!(back, stored);
        let recorded = back.recorded().expect("a point");
        assert_eq!(
            (recorded.seq, recorded.measurements.accuracy_m),
            (3, Some(4.0))
        );
        assert_eq!(recorded.recorded_at, point().recorded_at);
    }

    #[test]
    fn an_unreadable_document_is_skipped_not_fatal() {
        let good =
            mongodb::bson::to_document(&HistoryDoc::new(&point(), None, 1)).expect("encodes");
        let read: Vec<HistoryDoc> = readable(vec![doc! { "_id": "x" }, good]);
        assert_eq!(read.len(), 1);
    }

    #[test]
    fn a_stored_int32_seq_reads_as_the_same_number() {
        let mut document =
            mongodb::bson::to_document(&HistoryDoc::new(&point(), None, 0)).expect("encodes");
        document.insert("seq", 5_i32);
        let back: HistoryDoc = mongodb::bson::from_document(document).expect("decodes");
        assert_eq!(back.seq, 5);
    }
}
