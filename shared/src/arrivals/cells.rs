//! What completed legs and stops taught, per cell of about a city's size:
//! a road factor (how much longer the streets are than the straight line)
//! and a service time (how long a stop takes). Sums and counts are stored,
//! and blended with priors so a few samples move the figure only a little.

use crate::domain::Coordinates;
use serde::{Deserialize, Serialize};

/// Degrees per cell side: about 28 km north–south, a city and its suburbs.
pub const CELL_DEG: f64 = 0.25;
/// Before anything is learned: the detour of city streets over the straight
/// line is typically 1.2–1.4.
pub const PRIOR_ROAD_FACTOR: f64 = 1.3;
/// Before anything is learned: two minutes at the door.
pub const PRIOR_SERVICE_S: f64 = 120.0;
/// How many samples the prior counts as.
const PRIOR_WEIGHT: f64 = 3.0;

/// A cell's key, as stored (`"<row>:<column>"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey(pub String);

impl CellKey {
    pub fn of(at: &Coordinates) -> Self {
        let row = (at.latitude() / CELL_DEG).floor() as i64;
        let column = (at.longitude() / CELL_DEG).floor() as i64;
        Self(format!("{row}:{column}"))
    }
}

/// What a cell learned: sums and counts of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub road_sum: f64,
    pub road_legs: f64,
    pub service_sum: f64,
    pub service_stops: f64,
}

impl Learned {
    pub fn road_factor(&self) -> f64 {
        (self.road_sum + PRIOR_ROAD_FACTOR * PRIOR_WEIGHT) / (self.road_legs + PRIOR_WEIGHT)
    }

    pub fn service_s(&self) -> f64 {
        (self.service_sum + PRIOR_SERVICE_S * PRIOR_WEIGHT) / (self.service_stops + PRIOR_WEIGHT)
    }

    /// Adds what one sample taught.
    pub fn add(&mut self, sample: &super::Sample) {
        match sample {
            super::Sample::Road { factor, .. } => {
                self.road_sum += factor;
                self.road_legs += 1.0;
            }
            super::Sample::Service { seconds, .. } => {
                self.service_sum += seconds;
                self.service_stops += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_the_same_for_nearby_points_and_differs_across_a_city() {
        let a = Coordinates::new(52.52, 13.40).unwrap();
        let b = Coordinates::new(52.53, 13.41).unwrap();
        let far = Coordinates::new(48.85, 2.35).unwrap();
        assert_eq!(CellKey::of(&a), CellKey::of(&b));
        assert_ne!(CellKey::of(&a), CellKey::of(&far));
        let south_west = Coordinates::new(-0.1, -0.1).unwrap();
        assert_eq!(CellKey::of(&south_west).0, "-1:-1");
    }

    #[test]
    fn samples_pull_the_priors_towards_what_was_seen() {
        let mut learned = Learned::default();
        assert_eq!(learned.road_factor(), PRIOR_ROAD_FACTOR);
        assert_eq!(learned.service_s(), PRIOR_SERVICE_S);
        let cell = CellKey("0:0".into());
        for _ in 0..27 {
            learned.add(&super::super::Sample::Road {
                cell: cell.clone(),
                factor: 1.6,
            });
            learned.add(&super::super::Sample::Service {
                cell: cell.clone(),
                seconds: 300.0,
            });
        }
        assert!((learned.road_factor() - 1.57).abs() < 1e-9);
        assert!((learned.service_s() - 282.0).abs() < 1e-9);
    }
}
