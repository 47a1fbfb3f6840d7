//! The zones near a path, answered from memory: a grid of cells of
//! [`CELL_DEG`] degrees, each listing the zones whose bounding box covers
//! it. A location window asks once per subject; the cost is the cells the
//! path crosses and the zones listed there, not the number of zones.
//!
//! MongoDB keeps the zones (with a 2dsphere index for the API's reads);
//! each location worker holds this copy and refreshes it when zones change
//! (`workers/src/geofences/cache.rs`). Measured on the MongoDB stand-in, a
//! `$geoIntersects` query over 10,000 zones took ~0.8 s: per window that
//! would have been the whole drain budget.

use super::zone::Zone;
use crate::domain::Coordinates;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// A cell's side in degrees (about 5.5 km north-south).
pub const CELL_DEG: f64 = 0.05;
/// A move longer than this (a device's bad fix, a teleport) is looked up at
/// its ends only: walking it would cost more than it could find.
const LONGEST_WALK_M: f64 = 200_000.0;

type Cell = (i32, i32);

fn cell_of(latitude: f64, longitude: f64) -> Cell {
    (
        (latitude / CELL_DEG).floor() as i32,
        (longitude / CELL_DEG).floor() as i32,
    )
}

/// Cloned when zones change (copy on write): readers hold the index they
/// started with.
#[derive(Default, Clone)]
pub struct ZoneIndex {
    zones: HashMap<Uuid, Arc<Zone>>,
    cells: HashMap<Cell, Vec<Uuid>>,
}

impl ZoneIndex {
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub fn get(&self, id: &Uuid) -> Option<&Arc<Zone>> {
        self.zones.get(id)
    }

    /// Adds or replaces a zone.
    pub fn put(&mut self, zone: Zone) {
        self.remove(&zone.id);
        for cell in covered(&zone) {
            self.cells.entry(cell).or_default().push(zone.id);
        }
        self.zones.insert(zone.id, Arc::new(zone));
    }

    pub fn remove(&mut self, id: &Uuid) {
        let Some(old) = self.zones.remove(id) else {
            return;
        };
        for cell in covered(&old) {
            if let Some(ids) = self.cells.get_mut(&cell) {
                ids.retain(|z| z != id);
                if ids.is_empty() {
                    self.cells.remove(&cell);
                }
            }
        }
    }

    /// The zones whose bounding box may touch the path (fixes in order).
    pub fn near(&self, path: &[Coordinates]) -> Vec<Arc<Zone>> {
        let mut cells: HashSet<Cell> = HashSet::new();
        for pair in path.windows(2) {
            walk(&pair[0], &pair[1], &mut cells);
        }
        if let [only] = path {
            cells.insert(cell_of(only.latitude(), only.longitude()));
        }
        let mut seen = HashSet::new();
        cells
            .iter()
            .filter_map(|cell| self.cells.get(cell))
            .flatten()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| self.zones.get(id).cloned())
            .collect()
    }
}

/// The most index cells a zone may cover ([`super::parse`] refuses more).
pub const MAX_CELLS: usize = 4_000;
/// The most samples along one move between fixes.
const MAX_STEPS: usize = 400;

/// How many cells a shape's bounding box covers.
pub fn cells_of(shape: &super::Shape) -> usize {
    let (south, west, north, east) = shape.bounds();
    if !(east - west).is_finite() || east - west > 180.0 {
        return usize::MAX;
    }
    let (low, high) = (cell_of(south, west), cell_of(north, east));
    let rows = (i64::from(high.0) - i64::from(low.0) + 1).max(0) as usize;
    let columns = (i64::from(high.1) - i64::from(low.1) + 1).max(0) as usize;
    rows.saturating_mul(columns)
}

/// The cells a zone's bounding box covers (none past [`MAX_CELLS`]: such a
/// zone is refused at the edge, and one stored before is not indexed).
fn covered(zone: &Zone) -> Vec<Cell> {
    if cells_of(&zone.shape) > MAX_CELLS {
        return Vec::new();
    }
    let (south, west, north, east) = zone.shape.bounds();
    let (low, high) = (cell_of(south, west), cell_of(north, east));
    let mut cells = Vec::new();
    for row in low.0..=high.0 {
        for column in low.1..=high.1 {
            cells.push((row, column));
        }
    }
    cells
}

/// Every cell within one of the segment: samples half a cell apart, each
/// with its neighbours, cover every cell the segment passes through.
fn walk(a: &Coordinates, b: &Coordinates, cells: &mut HashSet<Cell>) {
    let ends = [a, b];
    // Across the antimeridian the degrees are not the distance: ends only.
    let across = (b.longitude() - a.longitude()).abs() > 180.0;
    if across || a.distance_m(b) > LONGEST_WALK_M {
        for end in ends {
            cells.insert(cell_of(end.latitude(), end.longitude()));
        }
        return;
    }
    let (dlat, dlon) = (b.latitude() - a.latitude(), b.longitude() - a.longitude());
    let steps =
        ((dlat.abs().max(dlon.abs()) / (CELL_DEG / 2.0)).ceil() as usize).clamp(1, MAX_STEPS);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (row, column) = cell_of(a.latitude() + t * dlat, a.longitude() + t * dlon);
        for r in row - 1..=row + 1 {
            for c in column - 1..=column + 1 {
                cells.insert((r, c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geofences::geometry::Shape;

    fn circle(id: u128, latitude: f64, longitude: f64, radius_m: f64) -> Zone {
        Zone {
            id: Uuid::from_u128(id),
            name: format!("z{id}"),
            shape: Shape::Circle {
                center: Coordinates::new(latitude, longitude).unwrap(),
                radius_m,
            },
            dwell_s: None,
            debounce_s: 0,
            tracking_numbers: vec![],
            courier_ids: vec![],
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn ids(zones: Vec<Arc<Zone>>) -> Vec<u128> {
        let mut ids: Vec<u128> = zones.iter().map(|z| z.id.as_u128()).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_path_finds_the_zones_along_it_and_not_the_rest() {
        let mut index = ZoneIndex::default();
        for i in 0..10_000u128 {
            // A grid of 100 m zones, 0.5 degrees apart (the index answers
            // "maybe" for zones a cell or so away; the exact test decides).
            let (row, column) = ((i / 100) as f64, (i % 100) as f64);
            index.put(circle(i, 20.0 + row * 0.5, 10.0 + column * 0.5, 100.0));
        }
        let at = |lat: f64, lon: f64| Coordinates::new(lat, lon).unwrap();
        assert_eq!(ids(index.near(&[at(20.0, 10.0)])), [0]);
        // Along a row from zone 0 to zone 3: those four only.
        assert_eq!(
            ids(index.near(&[at(20.0, 10.0), at(20.0, 11.5)])),
            [0, 1, 2, 3]
        );
        index.remove(&Uuid::from_u128(2));
        assert_eq!(
            ids(index.near(&[at(20.0, 10.0), at(20.0, 11.5)])),
            [0, 1, 3]
        );
        // Replaced elsewhere: found there, not here.
        index.put(circle(1, 80.0, 10.0, 100.0));
        assert_eq!(ids(index.near(&[at(20.0, 10.0), at(20.0, 11.5)])), [0, 3]);
        assert_eq!(ids(index.near(&[at(80.0, 10.0)])), [1]);
        assert_eq!(index.len(), 9_999);
    }

    #[test]
    fn a_zone_wider_than_a_cell_is_found_from_any_of_its_cells() {
        let mut index = ZoneIndex::default();
        index.put(circle(1, 50.0, 10.0, 20_000.0));
        let edge = Coordinates::new(50.15, 10.0).unwrap();
        assert_eq!(ids(index.near(&[edge])), [1]);
    }
}
