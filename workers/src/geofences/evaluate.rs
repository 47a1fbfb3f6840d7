//! The pure core of zone evaluation: one subject's new fixes, in
//! `recorded_at` order, stepped through the zones near them and the zones
//! it stands in, into what happened. No I/O: [`super::standing`] loads and
//! stores the standing, [`super::notify`] turns what happened into events.

use shared::geofences::index::{Bounds, LONGEST_WALK_M};
use shared::geofences::{sides, Fix, Side, Subject, Transition, Zone, ZoneIndex};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Fixes further apart than this are not one straight move: no crossing
/// is inferred between them (a device off for an hour went anywhere).
const LONGEST_MOVE: chrono::Duration = chrono::Duration::minutes(15);

/// One fix and the point that carried it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointFix {
    pub point_id: Uuid,
    pub fix: Fix,
}

/// Where a subject stands: its last applied fix and its side of each zone
/// it is not plainly outside of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    pub last: Option<Fix>,
    pub sides: HashMap<Uuid, Side>,
}

/// One transition of one subject with one zone, and the fix that decided it.
#[derive(Debug, Clone)]
pub struct Happened {
    pub zone: Arc<Zone>,
    pub transition: Transition,
    pub point: PointFix,
}

/// Steps `standing` through the fixes newer than its last one (a late or
/// redelivered fix moves nothing), for the zones that `watches` accepts.
pub fn evaluate(
    zones: &ZoneIndex,
    watches: impl Fn(&Zone) -> bool,
    standing: &mut Standing,
    fixes: &[PointFix],
) -> Vec<Happened> {
    let mut fresh: Vec<PointFix> = fixes
        .iter()
        .copied()
        .filter(|p| {
            standing
                .last
                .is_none_or(|last| p.fix.recorded_at > last.recorded_at)
        })
        .collect();
    fresh.sort_by_key(|p| (p.fix.recorded_at, p.point_id));
    fresh.dedup_by_key(|p| p.fix.recorded_at);
    // Zones deleted since stop being stood in, silently.
    standing.sides.retain(|id, _| zones.get(id).is_some());
    if fresh.is_empty() {
        return Vec::new();
    }
    let mut happened = Vec::new();
    for point in fresh {
        // Too long ago, too far, or across the antimeridian: not one
        // straight move the index can walk, so no crossing is inferred.
        let previous = standing.last.filter(|last| {
            point.fix.recorded_at - last.recorded_at <= LONGEST_MOVE
                && last.at.distance_m(&point.fix.at) <= LONGEST_WALK_M
                && (last.at.longitude() - point.fix.at.longitude()).abs() <= 180.0
        });
        for zone in candidates(zones, &watches, standing, previous.as_ref(), &point.fix) {
            let side = standing.sides.entry(zone.id).or_default();
            let transitions = sides::step(
                &zone.shape,
                &zone.rules(),
                side,
                previous.as_ref(),
                &point.fix,
            );
            happened.extend(transitions.into_iter().map(|transition| Happened {
                zone: Arc::clone(&zone),
                transition,
                point,
            }));
        }
        standing.last = Some(point.fix);
    }
    standing.sides.retain(|_, side| !side.is_default());
    happened
}

/// The zones one fix may move the subject in, that `watches` accepts, by
/// id: those it stands in, and those whose box the move from the previous
/// fix touches. Any other zone it is plainly outside of, and stays so.
fn candidates(
    zones: &ZoneIndex,
    watches: impl Fn(&Zone) -> bool,
    standing: &Standing,
    previous: Option<&Fix>,
    fix: &Fix,
) -> Vec<Arc<Zone>> {
    let from = previous.map_or(fix.at, |p| p.at);
    let moved = Bounds::around(&from, &fix.at);
    let near = zones.near(&[from, fix.at]).into_iter().filter(|zone| {
        zones
            .bounds(&zone.id)
            .is_some_and(|bounds| bounds.overlaps(&moved))
    });
    let standing_in = standing
        .sides
        .iter()
        .filter(|(_, side)| !side.is_default())
        .filter_map(|(id, _)| zones.get(id).cloned());
    let candidates: HashMap<Uuid, Arc<Zone>> = near
        .chain(standing_in)
        .filter(|zone| watches(zone))
        .map(|zone| (zone.id, zone))
        .collect();
    let mut candidates: Vec<Arc<Zone>> = candidates.into_values().collect();
    candidates.sort_by_key(|zone| zone.id);
    candidates
}

/// Whether a zone watches a courier, or any package riding with them (the
/// courier's standing is kept for both).
pub fn watches_courier_or_aboard(zone: &Zone, courier_id: Uuid, aboard: &[&str]) -> bool {
    zone.watches(Subject::Courier(courier_id))
        || aboard.iter().any(|tn| zone.watches(Subject::Package(tn)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use shared::domain::{Coordinates, EARTH_RADIUS_M};
    use shared::geofences::Shape;

    fn north(metres: f64) -> Coordinates {
        Coordinates::new(52.0 + (metres / EARTH_RADIUS_M).to_degrees(), 13.0).unwrap()
    }

    fn zones(dwell_s: Option<u32>) -> ZoneIndex {
        let mut index = ZoneIndex::default();
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        index.put(Zone {
            id: Uuid::from_u128(1),
            name: "Depot".into(),
            shape: Shape::Circle {
                center: north(0.0),
                radius_m: 100.0,
            },
            dwell_s,
            debounce_s: 30,
            tracking_numbers: vec![],
            courier_ids: vec![],
            created_at: at,
            updated_at: at,
        });
        index
    }

    fn point(second: i64, metres_north: f64, accuracy_m: f64) -> PointFix {
        PointFix {
            point_id: Uuid::from_u128(1000 + second as u128),
            fix: Fix {
                at: north(metres_north),
                recorded_at: at(second),
                accuracy_m,
            },
        }
    }

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
    }

    fn kinds(happened: &[Happened]) -> Vec<&'static str> {
        happened.iter().map(|h| h.transition.kind()).collect()
    }

    #[test]
    fn jitter_at_the_border_enters_and_exits_once_over_several_windows() {
        let index = zones(None);
        let mut standing = Standing::default();
        let mut all = Vec::new();
        // Start clearly outside, then alternate a few metres either side
        // of the border (accuracy 20 m), settle inside, then leave clearly.
        let mut fixes = vec![point(0, 300.0, 10.0)];
        for i in 1..=20 {
            let metres = if i % 2 == 0 { 97.0 } else { 103.0 };
            fixes.push(point(i * 5, metres, 20.0));
        }
        fixes.push(point(200, 0.0, 10.0));
        fixes.push(point(260, 400.0, 10.0));
        // In windows of 3, shuffled within each window.
        for window in fixes.chunks(3) {
            let mut window = window.to_vec();
            window.reverse();
            all.extend(evaluate(&index, |_| true, &mut standing, &window));
        }
        assert_eq!(kinds(&all), ["geofence_entered", "geofence_exited"]);
        assert!(standing.sides.is_empty());
    }

    #[test]
    fn a_late_or_redelivered_fix_moves_nothing() {
        let index = zones(None);
        let mut standing = Standing::default();
        let window = [point(0, 500.0, 5.0), point(10, 0.0, 5.0)];
        assert_eq!(
            kinds(&evaluate(&index, |_| true, &mut standing, &window)),
            ["geofence_entered"]
        );
        let after = standing.clone();
        assert!(evaluate(&index, |_| true, &mut standing, &window).is_empty());
        // Older than the last applied, and outside: no exit.
        assert!(evaluate(&index, |_| true, &mut standing, &[point(5, 500.0, 5.0)]).is_empty());
        assert_eq!(standing, after);
    }

    #[test]
    fn a_stay_dwells_once_and_a_deleted_zone_is_forgotten() {
        let index = zones(Some(60));
        let mut standing = Standing::default();
        let window: Vec<PointFix> = (0..10)
            .map(|i| point(i * 20, if i == 0 { 500.0 } else { 10.0 }, 5.0))
            .collect();
        let happened = evaluate(&index, |_| true, &mut standing, &window);
        assert_eq!(kinds(&happened), ["geofence_entered", "geofence_dwelled"]);
        assert_eq!(standing.sides.len(), 1);
        let empty = ZoneIndex::default();
        assert!(evaluate(&empty, |_| true, &mut standing, &[point(400, 10.0, 5.0)]).is_empty());
        assert!(standing.sides.is_empty());
    }

    #[test]
    fn a_straddling_move_crosses_but_not_after_a_long_silence_nor_for_an_unwatched_zone() {
        let index = zones(None);
        let mut standing = Standing::default();
        let window = [point(0, -300.0, 5.0), point(10, 300.0, 5.0)];
        assert_eq!(
            kinds(&evaluate(&index, |_| true, &mut standing, &window)),
            ["geofence_crossed"]
        );
        let mut standing = Standing::default();
        let window = [point(0, -300.0, 5.0), point(3600, 300.0, 5.0)];
        assert!(evaluate(&index, |_| true, &mut standing, &window).is_empty());
        let mut standing = Standing::default();
        let window = [point(0, -300.0, 5.0), point(10, 300.0, 5.0)];
        assert!(evaluate(&index, |_| false, &mut standing, &window).is_empty());
    }
}
