//! One courier's fixes, oldest first, into what they teach: arriving at
//! a stop ends a leg (its road factor: the distance driven over the
//! straight line), leaving it ends its service (the time spent there);
//! both are taught only when the parcel was delivered there, once per
//! parcel, so a courier cannot teach the cell (shared by every courier in
//! it) whatever they like by driving in circles. Between stops, the distance and time driven recently give the
//! courier's pace, lights and traffic included, stops excluded.
//!
//! The state is small and stored whole per courier (JSON in
//! `courier_legs`); a fix not newer than the last one seen changes nothing,
//! so a redelivered window teaches nothing twice.

use super::cells::CellKey;
use super::estimate::Stop;
use crate::domain::Coordinates;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Within this of a stop, the courier has arrived.
pub const ARRIVED_M: f64 = 50.0;
/// Beyond this of the stop it serves, the courier has left it.
pub const LEFT_M: f64 = 120.0;
/// A leg shorter than this teaches no road factor (GPS noise dominates).
const SHORTEST_LEG_M: f64 = 300.0;
/// A gap between fixes longer than this is not driving (the phone was off).
const LONGEST_GAP_S: f64 = 900.0;
/// The recent pace forgets half of what it knew every ten minutes.
const PACE_HALF_LIFE_S: f64 = 600.0;
/// How many taught parcels a leg remembers.
const TAUGHT_KEPT: usize = 64;
/// The pace starts from the default speed, counted as two minutes of
/// driving: a few slow fixes at a light do not stall every estimate.
const PACE_PRIOR_S: f64 = 120.0;

/// What a fix taught.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Road { cell: CellKey, factor: f64 },
    Service { cell: CellKey, seconds: f64 },
}

/// A stop the courier is at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    pub package_id: Uuid,
    pub at: Coordinates,
    pub since: DateTime<Utc>,
    /// The detour of the leg that ended here, taught if the parcel is
    /// delivered.
    #[serde(default)]
    pub road_factor: Option<f64>,
}

/// A courier's leg in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Leg {
    /// The newest fix seen.
    pub last: Option<(Coordinates, DateTime<Utc>)>,
    /// Where the leg began (the stop last left, or the first fix).
    pub from: Option<Coordinates>,
    /// Driven since then, fix to fix.
    pub driven_m: f64,
    pub serving: Option<Serving>,
    /// Distance and time driven between stops, fading with age.
    pub recent_m: f64,
    pub recent_s: f64,
    /// The parcels whose stop taught already (the newest few).
    pub taught: Vec<Uuid>,
}

impl Leg {
    /// The courier's recent speed between stops (lights and traffic
    /// included), blended with the default.
    pub fn pace_mps(&self) -> f64 {
        let prior_m = super::estimate::DEFAULT_SPEED_MPS * PACE_PRIOR_S;
        ((self.recent_m + prior_m) / (self.recent_s + PACE_PRIOR_S)).clamp(0.5, 40.0)
    }

    /// Since when the courier serves `package_id`, if it does.
    pub fn serving_since(&self, package_id: Uuid) -> Option<DateTime<Utc>> {
        self.serving
            .filter(|s| s.package_id == package_id)
            .map(|s| s.since)
    }

    /// Takes one fix; `stops`: the run's remaining stops with a
    /// destination (the courier may reach any of them: runs are not always
    /// driven in order); `remaining`: whether a package is still to be
    /// delivered.
    pub fn observe(
        &mut self,
        at: Coordinates,
        when: DateTime<Utc>,
        stops: &[Stop],
        remaining: impl Fn(Uuid) -> bool,
    ) -> Vec<Sample> {
        let previous = match self.last {
            Some((_, seen)) if when <= seen => return Vec::new(),
            previous => previous,
        };
        self.last = Some((at, when));
        if let Some(serving) = self.serving {
            if remaining(serving.package_id) && at.distance_m(&serving.at) <= LEFT_M {
                return Vec::new();
            }
            return self.leave(serving, at, when, !remaining(serving.package_id));
        }
        if let Some((before, seen)) = previous {
            let gap_s = (when - seen).num_milliseconds() as f64 / 1000.0;
            if gap_s > LONGEST_GAP_S {
                // Not a drive: the leg starts again from here.
                self.from = None;
                self.driven_m = 0.0;
            }
            self.drove(before.distance_m(&at), gap_s);
        }
        let from = *self.from.get_or_insert(at);
        let reached = stops
            .iter()
            .filter(|s| at.distance_m(&s.at) <= ARRIVED_M)
            .min_by(|a, b| at.distance_m(&a.at).total_cmp(&at.distance_m(&b.at)));
        if let Some(stop) = reached {
            let straight = from.distance_m(&stop.at);
            let driven = self.driven_m + at.distance_m(&stop.at);
            self.serving = Some(Serving {
                package_id: stop.package_id,
                at: stop.at,
                since: when,
                road_factor: (straight >= SHORTEST_LEG_M)
                    .then(|| (driven / straight).clamp(1.0, 3.0)),
            });
        }
        Vec::new()
    }

    /// The courier left the stop it served. What the leg and the stop teach
    /// counts only if the parcel was delivered there, once per parcel: a
    /// courier circling an address teaches nothing, nor a stop skipped.
    fn leave(
        &mut self,
        serving: Serving,
        at: Coordinates,
        when: DateTime<Utc>,
        delivered: bool,
    ) -> Vec<Sample> {
        self.serving = None;
        self.from = Some(at);
        self.driven_m = 0.0;
        if !delivered || self.taught.contains(&serving.package_id) {
            return Vec::new();
        }
        if self.taught.len() >= TAUGHT_KEPT {
            self.taught.remove(0);
        }
        self.taught.push(serving.package_id);
        let cell = CellKey::of(&serving.at);
        let seconds = (when - serving.since).num_milliseconds() as f64 / 1000.0;
        let service = Sample::Service {
            cell: cell.clone(),
            seconds: seconds.clamp(5.0, 1_800.0),
        };
        let road = serving
            .road_factor
            .map(|factor| Sample::Road { cell, factor });
        road.into_iter().chain([service]).collect()
    }

    fn drove(&mut self, metres: f64, seconds: f64) {
        if !(seconds > 0.0 && seconds <= LONGEST_GAP_S) {
            return;
        }
        self.driven_m += metres;
        let fade = 0.5_f64.powf(seconds / PACE_HALF_LIFE_S);
        self.recent_m = self.recent_m * fade + metres;
        self.recent_s = self.recent_s * fade + seconds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    fn t(s: i64) -> DateTime<Utc> {
        "2026-12-06T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
    }

    fn stop(lat: f64, lon: f64) -> Stop {
        Stop {
            package_id: Uuid::new_v4(),
            at: at(lat, lon),
            road_m: None,
        }
    }

    /// East along one side of a square, then north along the other, to
    /// the far corner (10 s a fix); returns what it taught.
    fn drive_the_square(leg: &mut Leg, stops: &[Stop]) -> Vec<Sample> {
        let mut samples = Vec::new();
        for step in 0..=10 {
            let lon = 13.0 + 0.001 * step as f64;
            samples.extend(leg.observe(at(52.0, lon), t(step * 10), stops, |_| true));
        }
        for step in 1..=10 {
            let lat = 52.0 + 0.001 * step as f64;
            samples.extend(leg.observe(at(lat, 13.01), t(100 + step * 10), stops, |_| true));
        }
        samples
    }

    #[test]
    fn a_delivered_stop_teaches_its_legs_detour_and_its_service_once() {
        let (far, other) = (stop(52.01, 13.01), stop(52.05, 13.05));
        let mut leg = Leg::default();
        assert!(
            drive_the_square(&mut leg, &[other, far]).is_empty(),
            "nothing before it is delivered"
        );
        assert_eq!(
            leg.serving_since(far.package_id),
            Some(t(200)),
            "reached out of order"
        );
        // 1,797 m in 200 s, after two minutes at the default 8 m/s.
        let pace = leg.pace_mps();
        assert!((pace - 8.6).abs() < 0.1, "{pace}");
        // Delivered, then off: 685 m east + 1,112 m north over a 1,306 m
        // diagonal, and 90 s at the door.
        let delivered = |id| id != far.package_id;
        let left = leg.observe(at(52.0105, 13.01), t(290), &[other], delivered);
        let [Sample::Road { factor, .. }, Sample::Service { seconds, .. }] = left.as_slice() else {
            panic!("a road and a service sample: {left:?}");
        };
        assert!((factor - 1.376).abs() < 0.01, "{factor}");
        assert_eq!(*seconds, 90.0);
        assert_eq!((leg.serving, leg.from), (None, Some(at(52.0105, 13.01))));
        // Back to the same address: it taught already.
        leg.observe(at(52.01, 13.01), t(300), &[far], |_| true);
        assert!(leg
            .observe(at(52.02, 13.01), t(400), &[], delivered)
            .is_empty());
    }

    #[test]
    fn a_stop_left_undelivered_teaches_nothing() {
        let far = stop(52.01, 13.01);
        let mut leg = Leg::default();
        drive_the_square(&mut leg, &[far]);
        assert!(leg
            .observe(at(52.02, 13.01), t(300), &[far], |_| true)
            .is_empty());
        assert_eq!(leg.serving, None, "it left");
    }

    #[test]
    fn old_fixes_and_repeats_teach_nothing_and_gaps_are_not_driving() {
        let stops = [stop(52.0, 13.0)];
        let mut leg = Leg::default();
        assert!(leg
            .observe(at(52.01, 13.0), t(0), &stops, |_| true)
            .is_empty());
        let before = leg.clone();
        leg.observe(at(52.0, 13.0), t(0), &stops, |_| true);
        leg.observe(at(52.0, 13.0), t(-5), &stops, |_| true);
        assert_eq!(leg, before);
        leg.observe(at(52.005, 13.0), t(3_600), &[], |_| true);
        assert_eq!(leg.driven_m, 0.0, "an hour's gap is not a drive");
        assert_eq!(leg.pace_mps(), super::super::estimate::DEFAULT_SPEED_MPS);
    }

    #[test]
    fn staying_near_the_stop_keeps_serving_it() {
        let stops = [stop(52.0, 13.0)];
        let mut leg = Leg::default();
        leg.observe(at(52.0, 13.0), t(0), &stops, |_| true);
        assert!(leg
            .observe(at(52.0003, 13.0), t(30), &stops, |_| true)
            .is_empty());
        assert_eq!(leg.serving_since(stops[0].package_id), Some(t(0)));
    }
}
