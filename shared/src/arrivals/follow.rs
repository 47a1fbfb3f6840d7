//! One courier's new fixes against its run (pure): what they teach, and
//! for each remaining stop with a destination, a fresh estimate weighed
//! against what its watchers were told.

use super::estimate::Courier;
use super::{decide, estimate, Announced, CellKey, Decision, Learned, Leg, Pace, Sample, Stop};
use crate::couriers::CourierFix;
use crate::domain::Coordinates;
use std::collections::HashSet;
use uuid::Uuid;

/// The newest of `fixes` if it is newer than every fix `leg` has seen: the
/// one estimates will be made from (a routing service is asked about it).
pub fn newest_new<'f>(leg: &Leg, fixes: &'f [CourierFix]) -> Option<&'f CourierFix> {
    let newest = fixes.iter().max_by_key(|f| f.recorded_at)?;
    leg.last
        .is_none_or(|(_, seen)| newest.recorded_at > seen)
        .then_some(newest)
}

/// A stop still to be made, and what its package's watchers were told.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStop {
    pub package_id: Uuid,
    /// `None`: no estimate (the package says not where it goes).
    pub destination: Option<Coordinates>,
    pub announced: Announced,
}

/// What following one courier came to.
#[derive(Debug, Default)]
pub struct Followed {
    pub samples: Vec<Sample>,
    /// The fix the estimates are from (the newest new one).
    pub from_fix: Option<Uuid>,
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Per stop whose watchers' knowledge changes: what to tell them.
    pub decisions: Vec<(Uuid, Decision)>,
}

/// `fixes`: oldest first; `routed`: the road metres of the legs from the
/// newest fix through the stops with a destination, as far as a routing
/// service said (empty: none); `learned`: what a position's cell learned.
pub fn follow(
    leg: &mut Leg,
    fixes: &[CourierFix],
    run: &[RunStop],
    routed: &[f64],
    learned: impl Fn(&CellKey) -> Learned,
) -> Followed {
    let stops: Vec<Stop> = run
        .iter()
        .filter_map(|s| s.destination.map(|at| (s.package_id, at)))
        .enumerate()
        .map(|(i, (package_id, at))| Stop {
            package_id,
            at,
            road_m: routed.get(i).copied(),
        })
        .collect();
    let remaining: HashSet<Uuid> = run.iter().map(|s| s.package_id).collect();
    let mut followed = Followed::default();
    let mut newest = None;
    for fix in fixes {
        let before = leg.last;
        let taught = leg.observe(fix.coordinates, fix.recorded_at, stops.first(), |id| {
            remaining.contains(&id)
        });
        followed.samples.extend(taught);
        if leg.last != before {
            newest = Some(fix);
        }
    }
    // Only a fix newer than every one before moves the estimates: a late
    // or redelivered fix must not take them back.
    let Some(fix) = newest else {
        return followed;
    };
    let cell = learned(&CellKey::of(&fix.coordinates));
    let pace = Pace {
        speed_mps: leg.pace_mps(),
        road_factor: cell.road_factor(),
        service_s: cell.service_s(),
    };
    let courier = Courier {
        at: fix.coordinates,
        now: fix.recorded_at,
        serving_since: stops.first().and_then(|s| leg.serving_since(s.package_id)),
    };
    for (package_id, eta) in estimate(&courier, &stops, &pace) {
        let Some(stop) = run.iter().find(|s| s.package_id == package_id) else {
            continue;
        };
        let decision = decide(&stop.announced, eta);
        if decision.now != stop.announced || !decision.notices.is_empty() {
            followed.decisions.push((package_id, decision));
        }
    }
    followed.from_fix = Some(fix.point_id);
    followed.occurred_at = Some(fix.recorded_at);
    followed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn fix(lat: f64, s: i64) -> CourierFix {
        let start: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        CourierFix {
            point_id: Uuid::new_v4(),
            coordinates: Coordinates::new(lat, 13.0).unwrap(),
            measurements: Default::default(),
            recorded_at: start + Duration::seconds(s),
            is_latest: true,
        }
    }

    fn stop(lat: Option<f64>) -> RunStop {
        RunStop {
            package_id: Uuid::new_v4(),
            destination: lat.map(|lat| Coordinates::new(lat, 13.0).unwrap()),
            announced: Announced::default(),
        }
    }

    #[test]
    fn new_fixes_estimate_the_stops_with_a_destination_and_old_ones_nothing() {
        let run = [stop(Some(52.02)), stop(None), stop(Some(52.04))];
        let mut leg = Leg::default();
        let fixes = [fix(52.0, 0), fix(52.001, 10)];
        let followed = follow(&mut leg, &fixes, &run, &[], |_| Learned::default());
        let estimated: Vec<Uuid> = followed.decisions.iter().map(|(id, _)| *id).collect();
        assert_eq!(estimated, [run[0].package_id, run[2].package_id]);
        assert_eq!(followed.from_fix, Some(fixes[1].point_id));
        let again = follow(&mut leg, &fixes, &run, &[], |_| Learned::default());
        assert!(again.decisions.is_empty() && again.from_fix.is_none());
    }
}
