//! A zone as stored, carried and shown: its shape, how it treats borders,
//! and whom it watches.

use super::geometry::Shape;
use super::sides::Rules;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A geofence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub shape: Shape,
    /// A stay this long inside is reported as a dwell (`None`: never).
    pub dwell_s: Option<u32>,
    /// How long a stay on the other side within accuracy must last.
    pub debounce_s: u32,
    /// Only these packages, by tracking number (with `courier_ids`: only
    /// these subjects; both empty: every package and courier).
    #[serde(default)]
    pub tracking_numbers: Vec<String>,
    #[serde(default)]
    pub courier_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who moves through zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject<'a> {
    Package(&'a str),
    Courier(Uuid),
}

impl Zone {
    pub fn rules(&self) -> Rules {
        Rules {
            dwell: self
                .dwell_s
                .filter(|s| *s > 0)
                .map(|s| Duration::seconds(i64::from(s))),
            debounce: Duration::seconds(i64::from(self.debounce_s)),
        }
    }

    /// Whether the zone watches this subject.
    pub fn watches(&self, subject: Subject<'_>) -> bool {
        if self.tracking_numbers.is_empty() && self.courier_ids.is_empty() {
            return true;
        }
        match subject {
            Subject::Package(tn) => self.tracking_numbers.iter().any(|p| p == tn),
            Subject::Courier(id) => self.courier_ids.contains(&id),
        }
    }
}

/// A zone a package or courier is in now, as reads show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ZoneIn {
    pub id: Uuid,
    pub name: String,
    pub since: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_absent_fields_and_clears_a_null_dwell_also_over_the_broker() {
        let mut depot = zone(vec![], vec![]);
        depot.dwell_s = Some(60);
        let body = serde_json::json!({"name": "Hub", "dwell_s": null});
        let changes =
            crate::geofences::parse::zone_fields(body.as_object().unwrap(), false).unwrap();
        let carried: crate::geofences::parse::ZoneFields =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&changes).unwrap()).unwrap();
        assert_eq!(carried, changes);
        depot.change(carried, depot.updated_at);
        assert_eq!(depot.name, "Hub");
        assert_eq!(depot.dwell_s, None);
        assert_eq!(depot.debounce_s, 5);
        // A zone travels whole in a create.
        let bytes = rmp_serde::to_vec_named(&depot).unwrap();
        assert_eq!(rmp_serde::from_slice::<Zone>(&bytes).unwrap(), depot);
    }
    use crate::domain::Coordinates;

    fn zone(tracking_numbers: Vec<String>, courier_ids: Vec<Uuid>) -> Zone {
        Zone {
            id: Uuid::nil(),
            name: "Depot".into(),
            shape: Shape::Circle {
                center: Coordinates::new(1.0, 1.0).unwrap(),
                radius_m: 10.0,
            },
            dwell_s: Some(0),
            debounce_s: 5,
            tracking_numbers,
            courier_ids,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_zone_limited_to_some_subjects_watches_only_them() {
        let courier = Uuid::from_u128(7);
        assert!(zone(vec![], vec![]).watches(Subject::Package("TRK1")));
        let limited = zone(vec!["TRK1".into()], vec![courier]);
        assert!(limited.watches(Subject::Package("TRK1")));
        assert!(!limited.watches(Subject::Package("TRK2")));
        assert!(limited.watches(Subject::Courier(courier)));
        assert!(!limited.watches(Subject::Courier(Uuid::from_u128(8))));
        assert_eq!(limited.rules().dwell, None, "dwell_s 0 means no dwell");
    }
}
