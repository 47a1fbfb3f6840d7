//! One courier's run, driven in simulated time: from the depot to each stop
//! in turn along the streets, a service time at each (the parcel handed
//! over), and back to the depot. Pure: the caller says how much time
//! passed and does what happened (posts, status changes).

use super::grid::{Corner, Grid, Place, Route};

/// What happened while time passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// The courier reached stop `n` (0-based, in the run's order) and is
    /// handing its parcel over.
    Arrived(usize),
    /// Back at the depot: the run is over.
    Ended,
}

#[derive(Debug, Clone)]
pub struct Driver {
    grid: Grid,
    /// In the order they are driven to.
    stops: Vec<Corner>,
    /// The stop being driven to; `stops.len()`: the depot.
    next: usize,
    route: Route,
    travelled_m: f64,
    /// At a stop: how much service time is left.
    parked: Option<f64>,
    ended: bool,
    speed_mps: f64,
    service_s: f64,
    pub battery_pct: f64,
}

/// Battery used per simulated second on the road (a phone with GPS on).
const BATTERY_PER_S: f64 = 0.002;

impl Driver {
    /// A run to `stops`, visited nearest first from the depot.
    pub fn new(grid: Grid, stops: Vec<Corner>, speed_mps: f64, service_s: f64) -> Self {
        let stops = nearest_first(stops);
        let first = stops.first().copied().unwrap_or(Grid::DEPOT);
        Self {
            route: grid.route(Grid::DEPOT, first),
            grid,
            stops,
            next: 0,
            travelled_m: 0.0,
            parked: None,
            ended: false,
            speed_mps: speed_mps.max(0.1),
            service_s: service_s.max(0.0),
            battery_pct: 100.0,
        }
    }

    /// The stops' order: `order()[k]` is the index, in the stops given to
    /// [`Driver::new`], of the k-th stop driven to.
    pub fn stops(&self) -> &[Corner] {
        &self.stops
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Where the courier is now.
    pub fn place(&self) -> Place {
        self.route.at(self.travelled_m)
    }

    /// Metres per second now (standing at a stop: 0).
    pub fn speed_mps(&self) -> f64 {
        if self.parked.is_some() || self.ended {
            0.0
        } else {
            self.speed_mps
        }
    }

    /// Lets `dt_s` simulated seconds pass.
    pub fn advance(&mut self, dt_s: f64) -> Vec<Happened> {
        let mut happened = Vec::new();
        let mut left = dt_s.max(0.0);
        self.battery_pct = (self.battery_pct - BATTERY_PER_S * left).max(1.0);
        while left > 0.0 && !self.ended {
            if let Some(service) = self.parked {
                let spent = service.min(left);
                left -= spent;
                if service - spent > 0.0 {
                    self.parked = Some(service - spent);
                    break;
                }
                self.depart();
                continue;
            }
            let remaining = self.route.length_m() - self.travelled_m;
            let reach = self.speed_mps * left;
            if reach < remaining {
                self.travelled_m += reach;
                break;
            }
            self.travelled_m = self.route.length_m();
            left -= remaining / self.speed_mps;
            happened.push(self.arrive());
        }
        happened
    }

    fn arrive(&mut self) -> Happened {
        if self.next >= self.stops.len() {
            self.ended = true;
            return Happened::Ended;
        }
        self.parked = Some(self.service_s);
        Happened::Arrived(self.next)
    }

    fn depart(&mut self) {
        self.parked = None;
        let here = self.stops.get(self.next).copied().unwrap_or(Grid::DEPOT);
        self.next += 1;
        let there = self.stops.get(self.next).copied().unwrap_or(Grid::DEPOT);
        self.route = self.grid.route(here, there);
        self.travelled_m = 0.0;
    }
}

/// Greedy nearest-neighbour order from the depot, in street distance.
fn nearest_first(mut left: Vec<Corner>) -> Vec<Corner> {
    let mut order = Vec::with_capacity(left.len());
    let mut here = Grid::DEPOT;
    while !left.is_empty() {
        let blocks = |c: &Corner| (c.x - here.x).abs() + (c.y - here.y).abs();
        let nearest = (0..left.len())
            .min_by_key(|&i| blocks(&left[i]))
            .unwrap_or(0);
        here = left.swap_remove(nearest);
        order.push(here);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            centre: (52.52, 13.405),
            block_m: 100.0,
            radius_blocks: 10,
        }
    }

    #[test]
    fn a_run_visits_every_stop_in_order_then_ends_at_the_depot() {
        // 200 m out, 10 m/s, 30 s at the stop, 200 m back.
        let mut driver = Driver::new(grid(), vec![Corner { x: 2, y: 0 }], 10.0, 30.0);
        assert_eq!(driver.advance(10.0), []);
        assert_eq!(driver.place().east_m, 100.0);
        assert_eq!(driver.advance(10.0), [Happened::Arrived(0)]);
        assert_eq!(driver.speed_mps(), 0.0);
        assert_eq!(driver.advance(29.0), []);
        assert_eq!(driver.place().east_m, 200.0, "still handing over");
        assert_eq!(driver.advance(11.0), []);
        assert_eq!(driver.place().east_m, 100.0, "10 s on the way back");
        assert_eq!(driver.place().heading_deg, 270.0);
        assert_eq!(driver.advance(100.0), [Happened::Ended]);
        assert!(driver.ended());
        assert_eq!(driver.advance(100.0), []);
    }

    #[test]
    fn a_long_step_passes_several_stops_and_none_twice() {
        let stops = vec![
            Corner { x: 1, y: 0 },
            Corner { x: 2, y: 0 },
            Corner { x: 3, y: 0 },
        ];
        let mut driver = Driver::new(grid(), stops, 10.0, 0.0);
        let happened = driver.advance(1_000.0);
        assert_eq!(
            happened,
            [
                Happened::Arrived(0),
                Happened::Arrived(1),
                Happened::Arrived(2),
                Happened::Ended
            ]
        );
    }

    #[test]
    fn stops_are_driven_nearest_first() {
        let far = Corner { x: 9, y: 9 };
        let near = Corner { x: 1, y: 0 };
        let driver = Driver::new(grid(), vec![far, near], 10.0, 0.0);
        assert_eq!(driver.stops(), [near, far]);
    }
}
