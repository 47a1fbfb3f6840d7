//! One courier's new fixes against its run (pure): what they teach, and
//! for each remaining stop with a destination, a fresh estimate weighed
//! against what its watchers were told.

use super::estimate::Courier;
use super::{decide, estimate, Announced, CellKey, Decision, Learned, Leg, Pace, Sample, Stop};
use crate::couriers::CourierFix;
use crate::domain::Coordinates;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The newest of `fixes` (oldest first) if it is newer than every fix `leg` has seen: the
/// one estimates will be made from (a routing service is asked about it).
pub fn newest_new<'f>(leg: &Leg, fixes: &'f [CourierFix]) -> Option<&'f CourierFix> {
    let newest = fixes.last()?;
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

/// Stops estimated per courier at most (the next ones in the run's order).
pub const MAX_ESTIMATED: usize = 50;
/// A destination farther than this from the courier is a mistake (a run
/// is a city's): it gets no estimate and delays no stop after it.
pub const MAX_REACH_M: f64 = 100_000.0;

/// The stops an estimate from `at` covers: those with a destination within
/// reach, in the run's order, the first [`MAX_ESTIMATED`]. A routing
/// service is asked about the legs through these.
pub fn planned(run: &[RunStop], at: Coordinates) -> Vec<Stop> {
    run.iter()
        .filter_map(|s| s.destination.map(|to| (s.package_id, to)))
        .filter(|(_, to)| at.distance_m(to) <= MAX_REACH_M)
        .take(MAX_ESTIMATED)
        .map(|(package_id, to)| Stop {
            package_id,
            at: to,
            road_m: None,
        })
        .collect()
}

/// `fixes`: oldest first; `routed`: the road metres of the legs from the
/// newest new fix through its [`planned`] stops, as far as a routing
/// service said (empty: none); `learned`: what a position's cell learned.
pub fn follow(
    leg: &mut Leg,
    fixes: &[CourierFix],
    run: &[RunStop],
    routed: &[f64],
    learned: impl Fn(&CellKey) -> Learned,
) -> Followed {
    let remaining: HashSet<Uuid> = run.iter().map(|s| s.package_id).collect();
    let mut followed = Followed::default();
    let Some(latest) = fixes.last() else {
        return followed;
    };
    let near = planned(run, latest.coordinates);
    let mut newest = None;
    for fix in fixes {
        let before = leg.last;
        let taught = leg.observe(fix.coordinates, fix.recorded_at, &near, |id| {
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
    let stops = served_first(leg, planned(run, fix.coordinates), routed);
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
    let announced: HashMap<Uuid, &Announced> =
        run.iter().map(|s| (s.package_id, &s.announced)).collect();
    for (package_id, eta) in estimate(&courier, &stops, &pace) {
        let Some(announced) = announced.get(&package_id) else {
            continue;
        };
        let decision = decide(announced, eta);
        if decision.now != **announced || !decision.notices.is_empty() {
            followed.decisions.push((package_id, decision));
        }
    }
    followed.from_fix = Some(fix.point_id);
    followed.occurred_at = Some(fix.recorded_at);
    followed
}

/// The stops with the routed legs, the one being served (reached out of
/// the run's order, perhaps) first; routed legs are dropped if that moved
/// a stop (they were asked in the run's order).
fn served_first(leg: &Leg, mut stops: Vec<Stop>, routed: &[f64]) -> Vec<Stop> {
    for (stop, road_m) in stops.iter_mut().zip(routed) {
        stop.road_m = Some(*road_m);
    }
    let served = leg.serving.and_then(|s| {
        stops
            .iter()
            .position(|stop| stop.package_id == s.package_id)
    });
    if let Some(index) = served.filter(|index| *index > 0) {
        let stop = stops.remove(index);
        stops.insert(0, stop);
        stops.iter_mut().for_each(|s| s.road_m = None);
    }
    stops
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

    #[test]
    fn a_destination_across_the_world_delays_nobody_and_gets_no_estimate() {
        let bogus = RunStop {
            destination: Some(Coordinates::new(-52.0, -167.0).unwrap()),
            ..stop(None)
        };
        let near = stop(Some(52.01));
        let fixes = [fix(52.0, 0)];
        let alone = follow(&mut Leg::default(), &fixes, &[near.clone()], &[], |_| {
            Learned::default()
        });
        let after = follow(
            &mut Leg::default(),
            &fixes,
            &[bogus, near.clone()],
            &[],
            |_| Learned::default(),
        );
        let eta = |f: &Followed| {
            f.decisions
                .iter()
                .map(|(id, d)| (*id, d.now.eta))
                .collect::<Vec<_>>()
        };
        assert_eq!(eta(&after), eta(&alone));
        assert_eq!(eta(&after)[0].0, near.package_id);
    }
}
