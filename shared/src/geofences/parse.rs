//! A zone's fields read from a request body, every problem named. What
//! passes here is a zone MongoDB's 2dsphere index accepts (closed, simple
//! rings, holes inside) and that costs a bounded amount to evaluate.

use super::geometry::{self, Shape, MAX_EXTENT_M, MAX_VERTICES};
use super::zone::Zone;
use crate::domain::{Coordinates, TrackingNumber};
use crate::fields::Fields;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The longest zone name.
pub const MAX_NAME_CHARS: usize = 100;
/// The most packages or couriers a zone may be limited to.
pub const MAX_SUBJECTS: usize = 1000;
/// The longest dwell (a week) and debounce (an hour).
pub const MAX_DWELL_S: u32 = 7 * 86_400;
pub const MAX_DEBOUNCE_S: u32 = 3_600;
/// A border crossing within accuracy counts after this long by default.
pub const DEFAULT_DEBOUNCE_S: u32 = 30;

/// A zone's fields as a request gave them; on an update, `None` keeps the
/// stored value (`dwell_s: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneFields {
    pub name: Option<String>,
    pub shape: Option<Shape>,
    /// Carried as absent (keep), `null` (clear) or a number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub dwell_s: Option<Option<u32>>,
    pub debounce_s: Option<u32>,
    pub tracking_numbers: Option<Vec<String>>,
    pub courier_ids: Option<Vec<Uuid>>,
}

impl Zone {
    /// A new zone from a create's fields (`None` without a name or shape,
    /// which [`super::parse::zone_fields`] requires on a create).
    pub fn drawn(id: Uuid, fields: ZoneFields, at: DateTime<Utc>) -> Option<Self> {
        Some(Self {
            id,
            name: fields.name?,
            shape: fields.shape?,
            dwell_s: fields.dwell_s.flatten(),
            debounce_s: fields.debounce_s.unwrap_or(DEFAULT_DEBOUNCE_S),
            tracking_numbers: fields.tracking_numbers.unwrap_or_default(),
            courier_ids: fields.courier_ids.unwrap_or_default(),
            created_at: at,
            updated_at: at,
        })
    }

    /// Applies an update's fields; absent ones stay.
    pub fn change(&mut self, fields: ZoneFields, at: DateTime<Utc>) {
        if let Some(name) = fields.name {
            self.name = name;
        }
        if let Some(shape) = fields.shape {
            self.shape = shape;
        }
        if let Some(dwell_s) = fields.dwell_s {
            self.dwell_s = dwell_s;
        }
        if let Some(debounce_s) = fields.debounce_s {
            self.debounce_s = debounce_s;
        }
        if let Some(tracking_numbers) = fields.tracking_numbers {
            self.tracking_numbers = tracking_numbers;
        }
        if let Some(courier_ids) = fields.courier_ids {
            self.courier_ids = courier_ids;
        }
        self.updated_at = at.max(self.updated_at);
    }
}

/// A field that is present is `Some`, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// Reads the fields; on a create, `name` and a shape are required.
pub fn zone_fields(
    body: &Map<String, Value>,
    create: bool,
) -> Result<ZoneFields, std::collections::BTreeMap<String, String>> {
    let mut fields = Fields::new(body);
    let name = if create {
        fields.required_text("name", MAX_NAME_CHARS)
    } else {
        fields.optional_text("name", MAX_NAME_CHARS)
    };
    let shape = shape(&mut fields, body, create);
    let dwell_s = match body.get("dwell_s") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => whole(&mut fields, "dwell_s", value, MAX_DWELL_S).map(Some),
    };
    let debounce_s = body
        .get("debounce_s")
        .filter(|v| !v.is_null())
        .and_then(|v| whole(&mut fields, "debounce_s", v, MAX_DEBOUNCE_S));
    let tracking_numbers = list(&mut fields, body, "tracking_numbers", |raw| {
        TrackingNumber::parse(raw)
            .map(|tn| tn.as_str().to_owned())
            .ok()
    });
    let courier_ids = list(&mut fields, body, "courier_ids", |raw| {
        Uuid::parse_str(raw).ok()
    });
    let errors = fields.into_errors();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ZoneFields {
        name: name.map(|n| n.as_str().to_owned()),
        shape,
        dwell_s,
        debounce_s: debounce_s.or(create.then_some(DEFAULT_DEBOUNCE_S)),
        tracking_numbers,
        courier_ids,
    })
}

/// A whole number of seconds in `[0, max]`.
fn whole(fields: &mut Fields<'_>, field: &str, value: &Value, max: u32) -> Option<u32> {
    match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
        Some(v) if v <= max => Some(v),
        _ => {
            fields.invalid(
                field,
                format!("must be a whole number of seconds from 0 to {max}"),
            );
            None
        }
    }
}

/// An optional array of at most [`MAX_SUBJECTS`] strings, each read by `parse`.
fn list<T: PartialEq>(
    fields: &mut Fields<'_>,
    body: &Map<String, Value>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    let items = match body.get(field) {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) if items.len() <= MAX_SUBJECTS => items,
        Some(_) => {
            fields.invalid(
                field,
                format!("must be an array of at most {MAX_SUBJECTS} ids"),
            );
            return None;
        }
    };
    let mut parsed: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str().and_then(&parse) {
            Some(value) if !parsed.contains(&value) => parsed.push(value),
            Some(_) => {}
            None => {
                fields.invalid(field, format!("{item} is not a valid id"));
                return None;
            }
        }
    }
    Some(parsed)
}

/// Exactly one of `circle` and `polygon`.
fn shape(fields: &mut Fields<'_>, body: &Map<String, Value>, create: bool) -> Option<Shape> {
    let circle = body.get("circle").filter(|v| !v.is_null());
    let polygon = body.get("polygon").filter(|v| !v.is_null());
    let parsed = match (circle, polygon) {
        (Some(_), Some(_)) => Err(("circle", "give a circle or a polygon, not both".into())),
        (None, None) if create => Err(("circle", "a circle or a polygon is required".into())),
        (None, None) => return None,
        (Some(circle), None) => parse_circle(circle).map_err(|e| ("circle", e)),
        (None, Some(polygon)) => parse_polygon(polygon).map_err(|e| ("polygon", e)),
    };
    // Near a pole or across the antimeridian a small zone spans many
    // degrees of longitude: its index cells (and every lookup near it)
    // would cost too much.
    let field = if circle.is_some() {
        "circle"
    } else {
        "polygon"
    };
    let parsed = parsed.and_then(|shape| match super::index::cells_of(&shape) {
        cells if cells <= super::index::MAX_CELLS => Ok(shape),
        _ => Err((
            field,
            "is too close to a pole or crosses the antimeridian".into(),
        )),
    });
    parsed.map_err(|(field, e)| fields.invalid(field, e)).ok()
}

fn parse_circle(value: &Value) -> Result<Shape, String> {
    let number = |key: &str| value.get(key).and_then(Value::as_f64);
    let (Some(latitude), Some(longitude), Some(radius_m)) =
        (number("latitude"), number("longitude"), number("radius_m"))
    else {
        return Err("must be {\"latitude\", \"longitude\", \"radius_m\"} numbers".into());
    };
    let center = Coordinates::new(latitude, longitude).map_err(|e| e.to_string())?;
    if !(radius_m > 0.0 && radius_m <= MAX_EXTENT_M / 2.0) {
        return Err(format!(
            "radius_m must be more than 0 and at most {}",
            MAX_EXTENT_M / 2.0
        ));
    }
    Ok(Shape::Circle { center, radius_m })
}

fn parse_polygon(value: &Value) -> Result<Shape, String> {
    if value.get("type").and_then(Value::as_str) != Some("Polygon") {
        return Err("must be a GeoJSON Polygon ({\"type\": \"Polygon\", \"coordinates\"})".into());
    }
    let rings = value
        .get("coordinates")
        .and_then(Value::as_array)
        .filter(|rings| !rings.is_empty())
        .ok_or("coordinates must be an array of rings")?;
    let mut parsed: Vec<Vec<(f64, f64)>> = Vec::with_capacity(rings.len());
    let mut vertices = 0;
    for ring in rings {
        let positions = ring
            .as_array()
            .ok_or("each ring must be an array of positions")?;
        vertices += positions.len();
        if vertices > MAX_VERTICES {
            return Err(format!("at most {MAX_VERTICES} positions in all"));
        }
        parsed.push(parse_ring(positions)?);
    }
    let shape = Shape::polygon(parsed);
    check_polygon(&shape)?;
    Ok(shape)
}

/// A closed ring of at least 4 `[longitude, latitude]` positions.
fn parse_ring(positions: &[Value]) -> Result<Vec<(f64, f64)>, String> {
    let ring: Vec<(f64, f64)> = positions
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([lon, lat, ..]) => {
                let (lon, lat) = (lon.as_f64(), lat.as_f64());
                lat.zip(lon)
                    .filter(|&(lat, lon)| Coordinates::new(lat, lon).is_ok())
                    .map(|(lat, lon)| (lon, lat))
                    .ok_or("each position must be [longitude, latitude] within range".to_owned())
            }
            _ => Err("each position must be [longitude, latitude]".to_owned()),
        })
        .collect::<Result<_, _>>()?;
    if ring.len() < 4 || ring.first() != ring.last() {
        return Err("each ring must have at least 4 positions, the last equal to the first".into());
    }
    Ok(ring)
}

/// Small enough, simple, and its holes inside its outer ring.
fn check_polygon(shape: &Shape) -> Result<(), String> {
    let Shape::Polygon(polygon) = shape else {
        return Ok(());
    };
    let (south, west, north, east) = shape.bounds();
    let (Ok(sw), Ok(ne), Ok(se)) = (
        Coordinates::new(south, west),
        Coordinates::new(north, east),
        Coordinates::new(south, east),
    ) else {
        return Err("positions out of range".into());
    };
    if sw.distance_m(&se) > MAX_EXTENT_M || se.distance_m(&ne) > MAX_EXTENT_M {
        return Err(format!(
            "must fit in a box {} km across",
            MAX_EXTENT_M / 1000.0
        ));
    }
    if geometry::self_intersects(&polygon.coordinates) {
        return Err("rings must not cross themselves or each other".into());
    }
    let outer = Shape::Polygon(super::geometry::GeoPolygon {
        kind: "Polygon".into(),
        coordinates: polygon.coordinates[..1].to_vec(),
    });
    let holes_inside = polygon.coordinates[1..].iter().all(|hole| {
        hole.first()
            .and_then(|&[lon, lat]| Coordinates::new(lat, lon).ok())
            .is_some_and(|c| outer.contains(&c))
    });
    if !holes_inside {
        return Err("holes must lie inside the outer ring".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value, create: bool) -> Result<ZoneFields, Vec<String>> {
        zone_fields(body.as_object().unwrap(), create).map_err(|e| e.into_keys().collect())
    }

    #[test]
    fn a_circle_or_a_polygon_makes_a_zone_with_the_default_debounce() {
        let circle = read(
            json!({"name": "Depot", "circle": {"latitude": 52.0, "longitude": 13.0, "radius_m": 150}}),
            true,
        )
        .unwrap();
        assert_eq!(circle.debounce_s, Some(DEFAULT_DEBOUNCE_S));
        assert!(matches!(circle.shape, Some(Shape::Circle { radius_m, .. }) if radius_m == 150.0));
        let square = json!({"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.01, 52.0], [13.01, 52.01], [13.0, 52.01], [13.0, 52.0]]]});
        let polygon = read(json!({"name": "Yard", "polygon": square, "dwell_s": 120, "tracking_numbers": ["TRK123"]}), true).unwrap();
        assert_eq!(polygon.dwell_s, Some(Some(120)));
        assert_eq!(polygon.tracking_numbers, Some(vec!["TRK123".to_owned()]));
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = read(
            json!({"circle": {"latitude": 95, "longitude": 0, "radius_m": 10}, "dwell_s": -1, "debounce_s": 99999, "courier_ids": ["nope"]}),
            true,
        )
        .unwrap_err();
        assert_eq!(
            bad,
            ["circle", "courier_ids", "debounce_s", "dwell_s", "name"]
        );
        let both = read(json!({"name": "x", "circle": {}, "polygon": {}}), true).unwrap_err();
        assert_eq!(both, ["circle"]);
        let huge = read(
            json!({"name": "x", "circle": {"latitude": 0, "longitude": 0, "radius_m": 60000}}),
            true,
        )
        .unwrap_err();
        assert_eq!(huge, ["circle"]);
    }

    #[test]
    fn zones_near_a_pole_or_across_the_antimeridian_are_refused() {
        for body in [
            json!({"name": "n", "circle": {"latitude": 89.9, "longitude": 0.0, "radius_m": 40000.0}}),
            json!({"name": "n", "polygon": {"type": "Polygon", "coordinates": [[[179.9, 0.0], [-179.9, 0.0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0.0]]]}}),
            json!({"name": "n", "circle": {"latitude": 0.0, "longitude": 179.9999, "radius_m": 100.0}}),
        ] {
            let errors = zone_fields(body.as_object().unwrap(), true).unwrap_err();
            assert!(
                errors.values().any(|e| e.contains("antimeridian")),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn polygons_mongodb_would_refuse_are_refused_here() {
        let cases = [
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.01, 52.0], [13.01, 52.01], [13.0, 52.01]]]}),
            json!({"type": "Polygon", "coordinates": [[[13.0, 52.0], [14.0, 52.0], [14.0, 53.0], [13.0, 52.0]]]}),
            json!({"type": "Polygon", "coordinates": [[[13.0, 52.0], [13.01, 52.0], [13.01, 52.01], [13.0, 52.0]], [[13.5, 52.5], [13.51, 52.5], [13.51, 52.51], [13.5, 52.5]]]}),
            json!({"type": "LineString", "coordinates": []}),
        ];
        for polygon in cases {
            assert_eq!(
                read(json!({"name": "x", "polygon": polygon}), true).unwrap_err(),
                ["polygon"],
                "{polygon}"
            );
        }
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name_and_may_clear_the_dwell() {
        let update = read(json!({"dwell_s": null}), false).unwrap();
        assert_eq!(
            update,
            ZoneFields {
                dwell_s: Some(None),
                ..ZoneFields::default()
            }
        );
    }
}
