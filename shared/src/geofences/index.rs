//! The zones near a path, answered from memory: two grids, each cell
//! listing the zones whose bounding box covers it. Zones a few kilometres
//! across sit in the fine grid ([`FINE_DEG`]), larger ones in the coarse
//! grid ([`COARSE_DEG`]), so a fix in a dense city looks at the few zones
//! of its own cells, and a 100 km zone costs a few hundred cells, not
//! tens of thousands. A lookup costs the cells the path crosses and the
//! zones listed there, not the number of zones.
//!
//! MongoDB keeps the zones (with a 2dsphere index for the API's reads);
//! each location worker holds this copy and refreshes it when zones change
//! (`workers/src/geofences/zones.rs`). Measured on the MongoDB stand-in, a
//! `$geoIntersects` query over 10,000 zones took ~0.8 s: per window that
//! would have been the whole drain budget.

use super::zone::Zone;
use crate::domain::Coordinates;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The fine grid's cell side in degrees (about 1.1 km north-south).
pub const FINE_DEG: f64 = 0.01;
/// The coarse grid's (about 11 km).
pub const COARSE_DEG: f64 = 0.1;
/// A zone covering at most this many fine cells is in the fine grid.
const FINE_MAX_CELLS: usize = 64;
/// The most coarse cells a zone may cover ([`super::parse`] refuses more).
pub const MAX_CELLS: usize = 4_000;
/// The most samples along one move between fixes, per grid: enough for a
/// move of [`LONGEST_WALK_M`] to sample every fine cell up to ~84° of
/// latitude.
const MAX_STEPS: usize = 1_200;
/// A move longer than this (a device's bad fix, a teleport, a long
/// silence on the motorway) is looked up at its ends only: no crossing is
/// inferred along it (`workers/src/geofences/evaluate.rs` drops it too).
pub const LONGEST_WALK_M: f64 = 50_000.0;

type Cell = (i32, i32);

#[derive(Default, Clone)]
struct Grid {
    cells: HashMap<Cell, Vec<Uuid>>,
}

fn cell_of(deg: f64, latitude: f64, longitude: f64) -> Cell {
    (
        (latitude / deg).floor() as i32,
        (longitude / deg).floor() as i32,
    )
}

/// Cloned when zones change (copy on write): readers hold the index they
/// started with.
#[derive(Default, Clone)]
pub struct ZoneIndex {
    zones: HashMap<Uuid, Arc<Zone>>,
    /// Each zone's bounding box, computed once.
    boxes: HashMap<Uuid, Bounds>,
    fine: Grid,
    coarse: Grid,
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

    /// A zone's bounding box.
    pub fn bounds(&self, id: &Uuid) -> Option<Bounds> {
        self.boxes.get(id).copied()
    }

    /// Adds or replaces a zone.
    pub fn put(&mut self, zone: Zone) {
        self.remove(&zone.id);
        let bounds = Bounds::of(&zone.shape);
        let (grid, deg) = self.grid_for(&bounds);
        for cell in bounds.cells(deg) {
            grid.cells.entry(cell).or_default().push(zone.id);
        }
        self.boxes.insert(zone.id, bounds);
        self.zones.insert(zone.id, Arc::new(zone));
    }

    pub fn remove(&mut self, id: &Uuid) {
        let (Some(_), Some(bounds)) = (self.zones.remove(id), self.boxes.remove(id)) else {
            return;
        };
        let (grid, deg) = self.grid_for(&bounds);
        for cell in bounds.cells(deg) {
            if let Some(ids) = grid.cells.get_mut(&cell) {
                ids.retain(|z| z != id);
                if ids.is_empty() {
                    grid.cells.remove(&cell);
                }
            }
        }
    }

    fn grid_for(&mut self, bounds: &Bounds) -> (&mut Grid, f64) {
        if bounds.count(FINE_DEG) <= FINE_MAX_CELLS {
            (&mut self.fine, FINE_DEG)
        } else {
            (&mut self.coarse, COARSE_DEG)
        }
    }

    /// The zones whose bounding box may touch the path (fixes in order).
    pub fn near(&self, path: &[Coordinates]) -> Vec<Arc<Zone>> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for (grid, deg) in [(&self.fine, FINE_DEG), (&self.coarse, COARSE_DEG)] {
            if grid.cells.is_empty() {
                continue;
            }
            let mut cells: HashSet<Cell> = HashSet::new();
            for pair in path.windows(2) {
                crossed(deg, &pair[0], &pair[1], &mut cells);
            }
            if let [only] = path {
                cells.insert(cell_of(deg, only.latitude(), only.longitude()));
            }
            let ids = cells
                .iter()
                .filter_map(|cell| grid.cells.get(cell))
                .flatten();
            for id in ids {
                if seen.insert(*id) {
                    found.extend(self.zones.get(id).cloned());
                }
            }
        }
        found
    }
}

/// A box of latitudes and longitudes, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl Bounds {
    pub fn of(shape: &super::Shape) -> Self {
        let (south, west, north, east) = shape.bounds();
        Self {
            south,
            west,
            north,
            east,
        }
    }

    /// The box around a move from `a` to `b` (or a single fix).
    pub fn around(a: &Coordinates, b: &Coordinates) -> Self {
        Self {
            south: a.latitude().min(b.latitude()),
            west: a.longitude().min(b.longitude()),
            north: a.latitude().max(b.latitude()),
            east: a.longitude().max(b.longitude()),
        }
    }

    /// How many cells of `deg` degrees the box covers (`usize::MAX` when
    /// it spans more than half the world's longitudes).
    fn count(&self, deg: f64) -> usize {
        // Past ±180° (a circle straddling the antimeridian) the grid and
        // the box tests would not find it from the other side.
        let inside = self.west >= -180.0 && self.east <= 180.0;
        let inside = inside && self.south >= -90.0 && self.north <= 90.0;
        if !inside || !(self.east - self.west).is_finite() || self.east - self.west > 180.0 {
            return usize::MAX;
        }
        let (low, high) = (
            cell_of(deg, self.south, self.west),
            cell_of(deg, self.north, self.east),
        );
        let rows = (i64::from(high.0) - i64::from(low.0) + 1).max(0) as usize;
        let columns = (i64::from(high.1) - i64::from(low.1) + 1).max(0) as usize;
        rows.saturating_mul(columns)
    }

    /// The cells of `deg` degrees the box covers (none past [`MAX_CELLS`]
    /// coarse cells: such a zone is refused at the edge, and one stored
    /// before is not indexed).
    fn cells(&self, deg: f64) -> Vec<Cell> {
        if self.count(COARSE_DEG) > MAX_CELLS {
            return Vec::new();
        }
        let (low, high) = (
            cell_of(deg, self.south, self.west),
            cell_of(deg, self.north, self.east),
        );
        let mut cells = Vec::new();
        for row in low.0..=high.0 {
            for column in low.1..=high.1 {
                cells.push((row, column));
            }
        }
        cells
    }

    pub fn overlaps(&self, other: &Bounds) -> bool {
        self.south <= other.north
            && other.south <= self.north
            && self.west <= other.east
            && other.west <= self.east
    }
}

/// How many coarse cells a shape's bounding box covers ([`MAX_CELLS`]).
pub fn cells_of(shape: &super::Shape) -> usize {
    Bounds::of(shape).count(COARSE_DEG)
}

/// The cells a move from `a` to `b` passes through (a superset). A move
/// within a few cells: every cell of the rectangle between its ends'. A
/// longer one: samples half a cell apart, each with its neighbours (at
/// most [`MAX_STEPS`]). Across the antimeridian, or past
/// [`LONGEST_WALK_M`]: its ends only.
fn crossed(deg: f64, a: &Coordinates, b: &Coordinates, cells: &mut HashSet<Cell>) {
    let (from, to) = (
        cell_of(deg, a.latitude(), a.longitude()),
        cell_of(deg, b.latitude(), b.longitude()),
    );
    let across = (b.longitude() - a.longitude()).abs() > 180.0;
    if across || a.distance_m(b) > LONGEST_WALK_M {
        cells.insert(from);
        cells.insert(to);
        return;
    }
    if (from.0 - to.0).abs() <= 2 && (from.1 - to.1).abs() <= 2 {
        for row in from.0.min(to.0)..=from.0.max(to.0) {
            for column in from.1.min(to.1)..=from.1.max(to.1) {
                cells.insert((row, column));
            }
        }
        return;
    }
    let (dlat, dlon) = (b.latitude() - a.latitude(), b.longitude() - a.longitude());
    let steps = ((dlat.abs().max(dlon.abs()) / (deg / 2.0)).ceil() as usize).clamp(1, MAX_STEPS);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (row, column) = cell_of(deg, a.latitude() + t * dlat, a.longitude() + t * dlon);
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
            // A grid of 100 m zones, 0.1 degrees apart (the index answers
            // "maybe" for zones a cell or so away; the exact test decides).
            let (row, column) = ((i / 100) as f64, (i % 100) as f64);
            index.put(circle(i, 20.0 + row * 0.1, 10.0 + column * 0.1, 100.0));
        }
        let at = |lat: f64, lon: f64| Coordinates::new(lat, lon).unwrap();
        assert_eq!(ids(index.near(&[at(20.0, 10.0)])), [0]);
        // Along a row from zone 0 to zone 3: those four only.
        assert_eq!(
            ids(index.near(&[at(20.0, 10.0), at(20.0, 10.3)])),
            [0, 1, 2, 3]
        );
        index.remove(&Uuid::from_u128(2));
        assert_eq!(
            ids(index.near(&[at(20.0, 10.0), at(20.0, 10.3)])),
            [0, 1, 3]
        );
        // Replaced elsewhere: found there, not here.
        index.put(circle(1, 80.0, 10.0, 100.0));
        assert_eq!(ids(index.near(&[at(20.0, 10.0), at(20.0, 10.3)])), [0, 3]);
        assert_eq!(ids(index.near(&[at(80.0, 10.0)])), [1]);
        assert_eq!(index.len(), 9_999);
        // A move longer than the longest walk is looked up at its ends only.
        assert_eq!(ids(index.near(&[at(20.0, 10.0), at(20.0, 11.0)])), [0, 10]);
    }

    #[test]
    fn a_short_move_finds_only_the_zones_of_its_own_cells_in_a_dense_city() {
        let mut index = ZoneIndex::default();
        // 10,000 zones of 100 m, 100 m apart: one per ~1 hectare.
        for i in 0..10_000u128 {
            let (row, column) = ((i / 100) as f64, (i % 100) as f64);
            index.put(circle(
                i,
                48.8 + row * 0.0009,
                2.3 + column * 0.00135,
                100.0,
            ));
        }
        let at = |lat: f64, lon: f64| Coordinates::new(lat, lon).unwrap();
        let found = index.near(&[at(48.84, 2.36), at(48.8401, 2.3601)]);
        assert!(
            !found.is_empty() && found.len() < 400,
            "{} candidates",
            found.len()
        );
    }

    #[test]
    fn a_zone_larger_than_a_few_kilometres_is_in_the_coarse_grid_and_found_from_its_edge() {
        let mut index = ZoneIndex::default();
        index.put(circle(1, 50.0, 10.0, 40_000.0));
        assert!(index.fine.cells.is_empty());
        let edge = Coordinates::new(50.35, 10.0).unwrap();
        assert_eq!(ids(index.near(&[edge])), [1]);
    }

    #[test]
    fn a_zone_wider_than_a_cell_is_found_from_any_of_its_cells() {
        let mut index = ZoneIndex::default();
        index.put(circle(1, 50.0, 10.0, 20_000.0));
        let edge = Coordinates::new(50.15, 10.0).unwrap();
        assert_eq!(ids(index.near(&[edge])), [1]);
    }
}
