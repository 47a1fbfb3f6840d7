//! A zone's shape and the three questions asked of it: is a position
//! inside, how far is it from the border, does a straight move between two
//! positions touch it.
//!
//! Distances are computed on a local plane (equirectangular around the
//! zone's reference point): zones are at most [`MAX_EXTENT_M`] across, where
//! the plane is within a fraction of a metre of the sphere. Containment
//! follows the same plane, so a border is where the distance is 0.

use crate::domain::Coordinates;
use crate::domain::EARTH_RADIUS_M;
use serde::{Deserialize, Serialize};

/// The largest zone: a circle's diameter, a polygon's bounding box side.
pub const MAX_EXTENT_M: f64 = 100_000.0;
/// The most vertices a polygon may have, all rings together (each point is
/// compared with every edge of the zones near it).
pub const MAX_VERTICES: usize = 1000;

/// Where a zone is: `{"circle": {"latitude", "longitude", "radius_m"}}` or
/// `{"polygon": <GeoJSON Polygon>}` once flattened into the zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Circle {
        #[serde(flatten)]
        center: Coordinates,
        radius_m: f64,
    },
    Polygon(GeoPolygon),
}

/// A GeoJSON Polygon: an outer ring and holes, each closed (first vertex =
/// last), positions as `[longitude, latitude]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPolygon {
    /// Always `"Polygon"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub coordinates: Vec<Vec<[f64; 2]>>,
}

impl Shape {
    /// A polygon from its rings of `(longitude, latitude)`.
    pub fn polygon(rings: Vec<Vec<(f64, f64)>>) -> Self {
        Self::Polygon(GeoPolygon {
            kind: "Polygon".into(),
            coordinates: rings
                .into_iter()
                .map(|ring| ring.into_iter().map(|(lon, lat)| [lon, lat]).collect())
                .collect(),
        })
    }
}

/// A point on the local plane, metres east and north of the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Xy {
    x: f64,
    y: f64,
}

/// The local plane around a reference point.
struct Plane {
    lat0: f64,
    lon0: f64,
    cos_lat0: f64,
}

impl Plane {
    fn around(latitude: f64, longitude: f64) -> Self {
        Self {
            lat0: latitude,
            lon0: longitude,
            cos_lat0: latitude.to_radians().cos(),
        }
    }

    fn xy(&self, latitude: f64, longitude: f64) -> Xy {
        // The shorter way round the antimeridian.
        let mut dlon = longitude - self.lon0;
        if dlon > 180.0 {
            dlon -= 360.0;
        } else if dlon < -180.0 {
            dlon += 360.0;
        }
        Xy {
            x: dlon.to_radians() * EARTH_RADIUS_M * self.cos_lat0,
            y: (latitude - self.lat0).to_radians() * EARTH_RADIUS_M,
        }
    }

    fn of(&self, c: &Coordinates) -> Xy {
        self.xy(c.latitude(), c.longitude())
    }
}

impl Shape {
    fn plane(&self) -> Plane {
        match self {
            Self::Circle { center, .. } => Plane::around(center.latitude(), center.longitude()),
            Self::Polygon(polygon) => {
                let [lon, lat] = polygon
                    .coordinates
                    .first()
                    .and_then(|r| r.first())
                    .copied()
                    .unwrap_or([0.0, 0.0]);
                Plane::around(lat, lon)
            }
        }
    }

    fn rings_xy(&self, plane: &Plane) -> Vec<Vec<Xy>> {
        match self {
            Self::Circle { .. } => Vec::new(),
            Self::Polygon(polygon) => polygon
                .coordinates
                .iter()
                .map(|ring| ring.iter().map(|&[lon, lat]| plane.xy(lat, lon)).collect())
                .collect(),
        }
    }

    /// Whether the position is inside (a border point counts as inside).
    pub fn contains(&self, at: &Coordinates) -> bool {
        let plane = self.plane();
        let p = plane.of(at);
        match self {
            Self::Circle { radius_m, .. } => norm(p) <= *radius_m,
            Self::Polygon { .. } => in_polygon(&self.rings_xy(&plane), p),
        }
    }

    /// How far the position is from the border, in metres (inside or out).
    pub fn border_distance_m(&self, at: &Coordinates) -> f64 {
        let plane = self.plane();
        let p = plane.of(at);
        match self {
            Self::Circle { radius_m, .. } => (norm(p) - radius_m).abs(),
            Self::Polygon { .. } => self
                .rings_xy(&plane)
                .iter()
                .flat_map(|ring| {
                    ring.windows(2)
                        .map(move |e| segment_distance(p, e[0], e[1]))
                })
                .fold(f64::INFINITY, f64::min),
        }
    }

    /// Whether a straight move from `a` to `b` touches the zone.
    pub fn touched_by(&self, a: &Coordinates, b: &Coordinates) -> bool {
        let plane = self.plane();
        let (pa, pb) = (plane.of(a), plane.of(b));
        match self {
            Self::Circle { radius_m, .. } => {
                segment_distance(Xy { x: 0.0, y: 0.0 }, pa, pb) <= *radius_m
            }
            Self::Polygon { .. } => {
                let rings = self.rings_xy(&plane);
                in_polygon(&rings, pa)
                    || in_polygon(&rings, pb)
                    || rings
                        .iter()
                        .flat_map(|ring| ring.windows(2))
                        .any(|e| segments_cross(pa, pb, e[0], e[1]))
            }
        }
    }

    /// The smallest box around the zone: (south, west, north, east) degrees.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        match self {
            Self::Circle { center, radius_m } => {
                let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
                let cos = center.latitude().to_radians().cos().max(1e-6);
                let dlon = dlat / cos;
                (
                    center.latitude() - dlat,
                    center.longitude() - dlon,
                    center.latitude() + dlat,
                    center.longitude() + dlon,
                )
            }
            Self::Polygon(polygon) => polygon.coordinates.iter().flatten().fold(
                (
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ),
                |(s, w, n, e), &[lon, lat]| (s.min(lat), w.min(lon), n.max(lat), e.max(lon)),
            ),
        }
    }

    /// The zone as a GeoJSON polygon for MongoDB's 2dsphere index: a
    /// polygon as given; a circle as a 32-gon drawn just outside it (the
    /// index answers "maybe", the exact test here decides).
    pub fn index_geometry(&self) -> serde_json::Value {
        let rings: Vec<Vec<[f64; 2]>> = match self {
            Self::Polygon(polygon) => polygon.coordinates.clone(),
            Self::Circle { center, radius_m } => {
                const SIDES: usize = 32;
                let outer = radius_m / (std::f64::consts::PI / SIDES as f64).cos() + 1.0;
                let dlat = (outer / EARTH_RADIUS_M).to_degrees();
                let cos = center.latitude().to_radians().cos().max(1e-6);
                let mut ring: Vec<[f64; 2]> = (0..SIDES)
                    .map(|i| {
                        let angle = 2.0 * std::f64::consts::PI * i as f64 / SIDES as f64;
                        [
                            center.longitude() + dlat * angle.cos() / cos,
                            (center.latitude() + dlat * angle.sin()).clamp(-90.0, 90.0),
                        ]
                    })
                    .collect();
                ring.push(ring[0]);
                vec![ring]
            }
        };
        serde_json::json!({ "type": "Polygon", "coordinates": rings })
    }
}

fn norm(p: Xy) -> f64 {
    p.x.hypot(p.y)
}

/// The distance from `p` to the segment `a`–`b`.
fn segment_distance(p: Xy, a: Xy, b: Xy) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length2 = dx * dx + dy * dy;
    let t = if length2 == 0.0 {
        0.0
    } else {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / length2).clamp(0.0, 1.0)
    };
    norm(Xy {
        x: p.x - (a.x + t * dx),
        y: p.y - (a.y + t * dy),
    })
}

fn cross(o: Xy, a: Xy, b: Xy) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Whether segments `p1`–`p2` and `q1`–`q2` meet (touching counts).
fn segments_cross(p1: Xy, p2: Xy, q1: Xy, q2: Xy) -> bool {
    let (d1, d2) = (cross(q1, q2, p1), cross(q1, q2, p2));
    let (d3, d4) = (cross(p1, p2, q1), cross(p1, p2, q2));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    let on = |a: Xy, b: Xy, p: Xy, d: f64| {
        d == 0.0
            && p.x >= a.x.min(b.x)
            && p.x <= a.x.max(b.x)
            && p.y >= a.y.min(b.y)
            && p.y <= a.y.max(b.y)
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

/// Ray casting over the outer ring, minus the holes.
fn in_polygon(rings: &[Vec<Xy>], p: Xy) -> bool {
    let in_ring = |ring: &Vec<Xy>| {
        let mut inside = false;
        for edge in ring.windows(2) {
            let (a, b) = (edge[0], edge[1]);
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
        }
        inside
    };
    let mut rings = rings.iter();
    let Some(outer) = rings.next() else {
        return false;
    };
    in_ring(outer) && !rings.any(in_ring)
}

/// Whether a polygon's own edges cross (GeoJSON and MongoDB refuse such
/// rings): non-adjacent edges of all rings compared pairwise.
pub fn self_intersects(rings: &[Vec<[f64; 2]>]) -> bool {
    let Some(&[lon0, lat0]) = rings.first().and_then(|r| r.first()) else {
        return false;
    };
    let plane = Plane::around(lat0, lon0);
    let edges: Vec<(usize, usize, Xy, Xy)> = rings
        .iter()
        .enumerate()
        .flat_map(|(r, ring)| {
            let plane = &plane;
            ring.windows(2)
                .enumerate()
                .map(move |(i, e)| (r, i, plane.xy(e[0][1], e[0][0]), plane.xy(e[1][1], e[1][0])))
        })
        .collect();
    let ring_len = |r: usize| rings[r].len() - 1;
    for (n, &(r1, i1, a1, b1)) in edges.iter().enumerate() {
        for &(r2, i2, a2, b2) in &edges[n + 1..] {
            let adjacent =
                r1 == r2 && (i1 + 1 == i2 || (i1 == 0 && i2 + 1 == ring_len(r1)) || i1 == i2);
            if !adjacent && segments_cross(a1, b1, a2, b2) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(latitude: f64, longitude: f64) -> Coordinates {
        Coordinates::new(latitude, longitude).unwrap()
    }

    /// A point `east_m` east and `north_m` north of (52.0, 13.0).
    fn off(east_m: f64, north_m: f64) -> Coordinates {
        let dlat = (north_m / EARTH_RADIUS_M).to_degrees();
        let dlon = (east_m / EARTH_RADIUS_M).to_degrees() / 52f64.to_radians().cos();
        at(52.0 + dlat, 13.0 + dlon)
    }

    fn circle() -> Shape {
        Shape::Circle {
            center: at(52.0, 13.0),
            radius_m: 100.0,
        }
    }

    /// A 200 m square centred on (52.0, 13.0) with a 50 m hole in its middle.
    fn square_with_hole() -> Shape {
        let ring = |half: f64| {
            let corners = [
                (-half, -half),
                (half, -half),
                (half, half),
                (-half, half),
                (-half, -half),
            ];
            corners
                .iter()
                .map(|&(e, n)| {
                    let c = off(e, n);
                    (c.longitude(), c.latitude())
                })
                .collect::<Vec<_>>()
        };
        Shape::polygon(vec![ring(100.0), ring(25.0)])
    }

    #[test]
    fn a_circle_contains_what_is_within_its_radius_and_measures_the_border() {
        let zone = circle();
        assert!(zone.contains(&off(0.0, 99.0)));
        assert!(!zone.contains(&off(0.0, 101.0)));
        assert!((zone.border_distance_m(&off(60.0, 0.0)) - 40.0).abs() < 0.5);
        assert!((zone.border_distance_m(&off(0.0, 150.0)) - 50.0).abs() < 0.5);
        // Agrees with the great-circle distance to well under a metre.
        let haversine = at(52.0, 13.0).distance_m(&off(0.0, 100.0));
        assert!((haversine - 100.0).abs() < 0.5, "{haversine}");
    }

    #[test]
    fn a_polygon_with_a_hole_contains_its_ring_only() {
        let zone = square_with_hole();
        assert!(zone.contains(&off(60.0, 60.0)));
        assert!(!zone.contains(&off(0.0, 0.0)), "the hole is outside");
        assert!(!zone.contains(&off(150.0, 0.0)));
        assert!((zone.border_distance_m(&off(150.0, 0.0)) - 50.0).abs() < 0.5);
        assert!((zone.border_distance_m(&off(0.0, 30.0)) - 5.0).abs() < 0.5);
    }

    #[test]
    fn a_move_touches_a_zone_it_passes_through_without_stopping() {
        for zone in [circle(), square_with_hole()] {
            assert!(zone.touched_by(&off(-500.0, 50.0), &off(500.0, 50.0)));
            assert!(!zone.touched_by(&off(-500.0, 300.0), &off(500.0, 300.0)));
            assert!(!zone.touched_by(&off(-500.0, 50.0), &off(-400.0, 50.0)));
        }
    }

    #[test]
    fn the_index_polygon_holds_the_whole_circle() {
        let zone = circle();
        let geometry = zone.index_geometry();
        let ring = geometry["coordinates"][0].as_array().unwrap();
        assert_eq!(ring.len(), 33);
        let rings = vec![ring
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect::<Vec<_>>()];
        let drawn = Shape::polygon(rings);
        for degrees in (0..360).step_by(5) {
            let a = (degrees as f64).to_radians();
            let edge = off(100.0 * a.cos(), 100.0 * a.sin());
            assert!(drawn.contains(&edge), "{degrees}");
        }
    }

    #[test]
    fn crossing_edges_are_found_and_simple_rings_pass() {
        let Shape::Polygon(polygon) = square_with_hole() else {
            unreachable!()
        };
        let rings = polygon.coordinates;
        assert!(!self_intersects(&rings));
        let bow_tie = vec![vec![
            [0.0, 0.0],
            [1.0, 1.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [0.0, 0.0],
        ]];
        assert!(self_intersects(&bow_tie));
        // A hole poking out of its outer ring.
        let mut poking = rings.clone();
        poking[1] = vec![
            [13.0, 52.0],
            [13.01, 52.0],
            [13.01, 52.0001],
            [13.0, 52.0001],
            [13.0, 52.0],
        ];
        assert!(self_intersects(&poking));
    }
}
