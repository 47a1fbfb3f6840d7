//! Recorded courier runs for the replay: dt-sim's street grid and
//! nearest-first runs ([`crate::sim`]), driven with the variation a real
//! day has. The distributions (docs/PERFORMANCE.md states them too):
//!
//! - cruise speed per leg: normal, mean 9 m/s, sd 1.5, within 5–14 m/s;
//! - at each block corner passed: a red light with probability 0.25,
//!   waited uniformly 10–45 s;
//! - service at a stop: log-normal, median 90 s, sigma 0.5, within 20–600 s;
//! - a fix every 10 s, each off by normal noise of sd 4 m east and north.

use crate::sim::driver::Driver;
use crate::sim::grid::{Corner, Grid};
use rand::Rng;
use shared::domain::Coordinates;

/// Seconds between fixes.
pub const FIX_EVERY_S: u32 = 10;

/// One run as it happened.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Where each stop is (its address's position), in the run's order.
    pub stops: Vec<Coordinates>,
    /// Each fix: seconds since the run began, and where it said it was.
    pub fixes: Vec<(f64, Coordinates)>,
    /// When the courier reached each stop, and left it (delivered).
    pub arrived: Vec<f64>,
    pub left: Vec<f64>,
}

/// Where the courier is, second by second.
struct Clock<'a, R: Rng> {
    grid: &'a Grid,
    rng: &'a mut R,
    t: u32,
    run: Recorded,
}

impl<R: Rng> Clock<'_, R> {
    /// One second at `(east, north)` metres from the centre.
    fn tick(&mut self, east: f64, north: f64) {
        if self.t % FIX_EVERY_S == 0 {
            let (dx, dy) = (normal(self.rng, 0.0, 4.0), normal(self.rng, 0.0, 4.0));
            let (lat, lon) = self.grid.lat_lon(east + dx, north + dy);
            if let Ok(at) = Coordinates::new(lat, lon) {
                self.run.fixes.push((f64::from(self.t), at));
            }
        }
        self.t += 1;
    }
}

/// A run of `stops` stops from the depot.
pub fn record(grid: &Grid, stops: usize, rng: &mut impl Rng) -> Recorded {
    let corners: Vec<Corner> = (0..stops).map(|_| grid.random_corner(rng)).collect();
    let order = Driver::new(*grid, corners, 1.0, 0.0).stops().to_vec();
    let metres = |c: Corner| (f64::from(c.x) * grid.block_m, f64::from(c.y) * grid.block_m);
    let mut clock = Clock {
        grid,
        rng,
        t: 0,
        run: Recorded {
            stops: Vec::new(),
            fixes: Vec::new(),
            arrived: Vec::new(),
            left: Vec::new(),
        },
    };
    let mut here = Grid::DEPOT;
    for stop in order {
        let route = grid.route(here, stop);
        let speed = normal(clock.rng, 9.0, 1.5).clamp(5.0, 14.0);
        let mut driven = 0.0;
        let mut corners_passed = 0;
        while driven < route.length_m() {
            let place = route.at(driven);
            clock.tick(place.east_m, place.north_m);
            driven += speed;
            let corner = (driven / grid.block_m).floor() as i32;
            if corner > corners_passed && driven < route.length_m() {
                corners_passed = corner;
                if clock.rng.random_bool(0.25) {
                    let place = route.at(driven);
                    for _ in 0..clock.rng.random_range(10..=45) {
                        clock.tick(place.east_m, place.north_m);
                    }
                }
            }
        }
        let (east, north) = metres(stop);
        let (lat, lon) = grid.lat_lon(east, north);
        clock
            .run
            .stops
            .push(Coordinates::new(lat, lon).unwrap_or(clock.run.fixes[0].1));
        clock.run.arrived.push(f64::from(clock.t));
        let service = (90.0 * normal(clock.rng, 0.0, 0.5).exp()).clamp(20.0, 600.0);
        for _ in 0..service.round() as u32 {
            clock.tick(east, north);
        }
        clock.run.left.push(f64::from(clock.t));
        here = stop;
    }
    clock.run
}

/// A normal draw (Box–Muller).
fn normal(rng: &mut impl Rng, mean: f64, sd: f64) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_run_reaches_every_stop_in_order_with_fixes_all_along() {
        let grid = Grid {
            centre: (52.52, 13.405),
            block_m: 150.0,
            radius_blocks: 12,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let run = record(&grid, 8, &mut rng);
        assert_eq!(
            (run.stops.len(), run.arrived.len(), run.left.len()),
            (8, 8, 8)
        );
        for i in 0..8 {
            assert!(run.left[i] - run.arrived[i] >= 20.0);
            assert!(i == 0 || run.arrived[i] > run.left[i - 1]);
        }
        let last = run.fixes.last().unwrap().0;
        assert!(last >= run.left[7] - f64::from(FIX_EVERY_S));
        assert!(run
            .fixes
            .windows(2)
            .all(|w| w[1].0 - w[0].0 == f64::from(FIX_EVERY_S)));
    }
}
