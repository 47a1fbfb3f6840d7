//! The zones in MongoDB ([`GEOFENCES`]): one document per zone, `_id` = the
//! zone id. `area` is the zone as a GeoJSON polygon under a 2dsphere index
//! (the API's "zones at this point" read); `zone` is the zone itself as
//! JSON text, read back whole (nothing queries inside it). A deleted zone
//! stays as a tombstone without `area`, so caches that refresh by
//! `updated_at` learn of the deletion.

use super::zone::Zone;
use crate::locations::stored::bson_time;
use mongodb::bson::{doc, DateTime as BsonTime, Document};
use serde::{Deserialize, Serialize};

pub const GEOFENCES: &str = "geofences";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeofenceDoc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Document>,
    pub updated_at: BsonTime,
    pub deleted: bool,
    /// The zone as JSON (`None` once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl GeofenceDoc {
    pub fn of(zone: &Zone) -> Result<Self, String> {
        let area =
            mongodb::bson::to_document(&zone.shape.index_geometry()).map_err(|e| e.to_string())?;
        Ok(Self {
            id: zone.id.to_string(),
            area: Some(area),
            updated_at: bson_time(zone.updated_at),
            deleted: false,
            zone: Some(serde_json::to_string(zone).map_err(|e| e.to_string())?),
        })
    }

    pub fn tombstone(id: uuid::Uuid, at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            id: id.to_string(),
            area: None,
            updated_at: bson_time(at),
            deleted: true,
            zone: None,
        }
    }

    /// The zone, unless deleted or unreadable.
    pub fn zone(&self) -> Option<Zone> {
        serde_json::from_str(self.zone.as_deref()?).ok()
    }

    pub fn zone_id(&self) -> Option<uuid::Uuid> {
        uuid::Uuid::parse_str(&self.id).ok()
    }
}

/// The 2dsphere index on `area`.
pub fn area_index() -> Document {
    doc! { "area": "2dsphere" }
}

/// The refresh index: what changed since a time.
pub fn updated_index() -> Document {
    doc! { "updated_at": 1 }
}

/// Live zones whose area may contain the point.
pub fn at_point(latitude: f64, longitude: f64) -> Document {
    doc! {
        "deleted": false,
        "area": { "$geoIntersects": { "$geometry": { "type": "Point", "coordinates": [longitude, latitude] } } },
    }
}

/// Documents changed at or after `since` (tombstones included).
pub fn changed_since(since: chrono::DateTime<chrono::Utc>) -> Document {
    doc! { "updated_at": { "$gte": bson_time(since) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Coordinates;
    use crate::geofences::Shape;

    #[test]
    fn a_zone_reads_back_from_its_document_and_a_tombstone_has_none() {
        let zone = Zone {
            id: uuid::Uuid::from_u128(5),
            name: "Depot".into(),
            shape: Shape::Circle {
                center: Coordinates::new(52.0, 13.0).unwrap(),
                radius_m: 50.0,
            },
            dwell_s: Some(60),
            debounce_s: 30,
            tracking_numbers: vec!["TRK1234".into()],
            courier_ids: vec![],
            created_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            updated_at: chrono::DateTime::from_timestamp(1_800_000_100, 0).unwrap(),
        };
        let document = GeofenceDoc::of(&zone).unwrap();
        let bson = mongodb::bson::to_document(&document).unwrap();
        let back: GeofenceDoc = mongodb::bson::from_document(bson).unwrap();
        assert_eq!(back.zone(), Some(zone));
        let json = serde_json::to_value(back.zone().unwrap()).unwrap();
        assert_eq!(json["circle"]["radius_m"], 50.0);
        assert_eq!(json["circle"]["latitude"], 52.0);
        let gone = GeofenceDoc::tombstone(uuid::Uuid::from_u128(5), chrono::Utc::now());
        assert_eq!((gone.zone(), gone.area), (None, None));
    }
}
