//! One courier's fixes, oldest first, into what they teach: arriving at
//! the next stop ends a leg (its road factor: the distance driven over
//! the straight line), leaving a stop ends its service (the time spent
//! there). Between stops, the distance and time driven recently give the
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

    /// Takes one fix; `next`: the run's next stop; `remaining`: whether a
    /// package is still to be delivered.
    pub fn observe(
        &mut self,
        at: Coordinates,
        when: DateTime<Utc>,
        next: Option<&Stop>,
        remaining: impl Fn(Uuid) -> bool,
    ) -> Vec<Sample> {
        let mut samples = Vec::new();
        let previous = match self.last {
            Some((_, seen)) if when <= seen => return samples,
            previous => previous,
        };
        self.last = Some((at, when));
        if let Some(serving) = self.serving {
            if remaining(serving.package_id) && at.distance_m(&serving.at) <= LEFT_M {
                return samples;
            }
            let seconds = (when - serving.since).num_milliseconds() as f64 / 1000.0;
            samples.push(Sample::Service {
                cell: CellKey::of(&serving.at),
                seconds: seconds.clamp(5.0, 1_800.0),
            });
            self.serving = None;
            self.from = Some(at);
            self.driven_m = 0.0;
            return samples;
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
        if let Some(stop) = next.filter(|s| at.distance_m(&s.at) <= ARRIVED_M) {
            let straight = from.distance_m(&stop.at);
            if straight >= SHORTEST_LEG_M {
                let driven = self.driven_m + at.distance_m(&stop.at);
                samples.push(Sample::Road {
                    cell: CellKey::of(&stop.at),
                    factor: (driven / straight).clamp(1.0, 3.0),
                });
            }
            self.serving = Some(Serving {
                package_id: stop.package_id,
                at: stop.at,
                since: when,
            });
        }
        samples
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

    #[test]
    fn a_leg_along_two_sides_teaches_its_detour_and_the_stop_its_service() {
        let stop = Stop {
            package_id: Uuid::new_v4(),
            at: at(52.01, 13.01),
            road_m: None,
        };
        let mut leg = Leg::default();
        let still = |_| true;
        // East along one side of the square, then north along the other.
        let mut samples = Vec::new();
        for step in 0..=10 {
            let lon = 13.0 + 0.001 * step as f64;
            samples.extend(leg.observe(at(52.0, lon), t(step * 10), Some(&stop), still));
        }
        for step in 1..=10 {
            let lat = 52.0 + 0.001 * step as f64;
            samples.extend(leg.observe(at(lat, 13.01), t(100 + step * 10), Some(&stop), still));
        }
        let [Sample::Road { factor, .. }] = samples.as_slice() else {
            panic!("one road sample: {samples:?}");
        };
        // 685 m east + 1,112 m north over a 1,306 m diagonal.
        assert!((factor - 1.376).abs() < 0.01, "{factor}");
        assert_eq!(leg.serving_since(stop.package_id), Some(t(200)));
        // 1,797 m in 200 s, after two minutes at the default 8 m/s.
        let pace = leg.pace_mps();
        assert!((pace - 8.6).abs() < 0.1, "{pace}");
        // Delivered, then off: the stop took 90 s.
        let delivered = |id| id != stop.package_id;
        let left = leg.observe(at(52.0105, 13.01), t(290), None, delivered);
        assert!(matches!(left.as_slice(), [Sample::Service { seconds, .. }] if *seconds == 90.0));
        assert_eq!(leg.serving, None);
        assert_eq!(leg.from, Some(at(52.0105, 13.01)));
    }

    #[test]
    fn old_fixes_and_repeats_teach_nothing_and_gaps_are_not_driving() {
        let stop = Stop {
            package_id: Uuid::new_v4(),
            at: at(52.0, 13.0),
            road_m: None,
        };
        let mut leg = Leg::default();
        assert!(leg
            .observe(at(52.01, 13.0), t(0), Some(&stop), |_| true)
            .is_empty());
        let before = leg.clone();
        assert!(leg
            .observe(at(52.0, 13.0), t(0), Some(&stop), |_| true)
            .is_empty());
        assert!(leg
            .observe(at(52.0, 13.0), t(-5), Some(&stop), |_| true)
            .is_empty());
        assert_eq!(leg, before);
        leg.observe(at(52.005, 13.0), t(3_600), None, |_| true);
        assert_eq!(leg.driven_m, 0.0, "an hour's gap is not a drive");
        assert_eq!(leg.pace_mps(), super::super::estimate::DEFAULT_SPEED_MPS);
    }

    #[test]
    fn staying_near_the_stop_keeps_serving_it() {
        let stop = Stop {
            package_id: Uuid::new_v4(),
            at: at(52.0, 13.0),
            road_m: None,
        };
        let mut leg = Leg::default();
        leg.observe(at(52.0, 13.0), t(0), Some(&stop), |_| true);
        assert!(leg
            .observe(at(52.0003, 13.0), t(30), Some(&stop), |_| true)
            .is_empty());
        assert_eq!(leg.serving_since(stop.package_id), Some(t(0)));
    }
}
