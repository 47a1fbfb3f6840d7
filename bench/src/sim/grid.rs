//! A city's street grid around its centre, without a map or a network:
//! intersections every `block_m` metres, streets running north–south and
//! east–west. A drive between two intersections follows the streets (east or
//! west first, then north or south), so what a courier posts looks like a
//! car's trace, not a straight line across the blocks.

use rand::Rng;

/// Metres per degree of latitude (and of longitude at the equator).
const METRES_PER_DEGREE: f64 = 111_320.0;

/// An intersection, in blocks east (`x`) and north (`y`) of the centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corner {
    pub x: i32,
    pub y: i32,
}

#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// The centre's latitude and longitude (the depot).
    pub centre: (f64, f64),
    pub block_m: f64,
    /// How many blocks from the centre stops may lie.
    pub radius_blocks: i32,
}

impl Grid {
    /// The depot, where every run starts and ends.
    pub const DEPOT: Corner = Corner { x: 0, y: 0 };

    /// Where a point `east_m`, `north_m` metres from the centre lies.
    pub fn lat_lon(&self, east_m: f64, north_m: f64) -> (f64, f64) {
        let (lat, lon) = self.centre;
        let lat_out = lat + north_m / METRES_PER_DEGREE;
        let lon_out = lon + east_m / (METRES_PER_DEGREE * lat.to_radians().cos().max(0.01));
        (lat_out, lon_out)
    }

    /// An intersection within the radius, not the depot.
    pub fn random_corner(&self, rng: &mut impl Rng) -> Corner {
        let r = self.radius_blocks.max(1);
        loop {
            let corner = Corner {
                x: rng.random_range(-r..=r),
                y: rng.random_range(-r..=r),
            };
            if corner != Self::DEPOT {
                return corner;
            }
        }
    }

    /// The drive from `from` to `to` along the streets.
    pub fn route(&self, from: Corner, to: Corner) -> Route {
        let turn = Corner { x: to.x, y: from.y };
        let metres = |c: Corner| (f64::from(c.x) * self.block_m, f64::from(c.y) * self.block_m);
        Route {
            start: metres(from),
            turn: metres(turn),
            end: metres(to),
        }
    }
}

/// A drive of two straight stretches, in metres east and north of the
/// centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    start: (f64, f64),
    turn: (f64, f64),
    end: (f64, f64),
}

/// Where a driver is on a route, and which way they face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub east_m: f64,
    pub north_m: f64,
    /// Degrees clockwise from north.
    pub heading_deg: f64,
}

impl Route {
    pub fn length_m(&self) -> f64 {
        distance(self.start, self.turn) + distance(self.turn, self.end)
    }

    /// Where the driver is after `travelled_m` (clamped to the route).
    pub fn at(&self, travelled_m: f64) -> Place {
        let first = distance(self.start, self.turn);
        let (from, to, along) = if travelled_m <= first {
            (self.start, self.turn, travelled_m.max(0.0))
        } else {
            (self.turn, self.end, travelled_m - first)
        };
        let length = distance(from, to);
        let share = if length > 0.0 {
            (along / length).min(1.0)
        } else {
            1.0
        };
        Place {
            east_m: from.0 + (to.0 - from.0) * share,
            north_m: from.1 + (to.1 - from.1) * share,
            heading_deg: heading(from, to)
                .unwrap_or_else(|| heading(self.turn, self.end).unwrap_or(0.0)),
        }
    }
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt()
}

/// The compass heading from `a` to `b`; none if they are the same place.
fn heading(a: (f64, f64), b: (f64, f64)) -> Option<f64> {
    let (east, north) = (b.0 - a.0, b.1 - a.1);
    if east == 0.0 && north == 0.0 {
        return None;
    }
    Some(east.atan2(north).to_degrees().rem_euclid(360.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn berlin() -> Grid {
        Grid {
            centre: (52.52, 13.405),
            block_m: 100.0,
            radius_blocks: 10,
        }
    }

    #[test]
    fn a_drive_follows_the_streets_east_then_north() {
        let route = berlin().route(Grid::DEPOT, Corner { x: 3, y: 2 });
        assert_eq!(route.length_m(), 500.0);
        let halfway_east = route.at(150.0);
        assert_eq!((halfway_east.east_m, halfway_east.north_m), (150.0, 0.0));
        assert_eq!(halfway_east.heading_deg, 90.0);
        let going_north = route.at(400.0);
        assert_eq!((going_north.east_m, going_north.north_m), (300.0, 100.0));
        assert_eq!(going_north.heading_deg, 0.0);
        let past_the_end = route.at(10_000.0);
        assert_eq!((past_the_end.east_m, past_the_end.north_m), (300.0, 200.0));
    }

    #[test]
    fn a_drive_west_and_south_faces_that_way() {
        let route = berlin().route(Corner { x: 2, y: 2 }, Corner { x: -1, y: -3 });
        assert_eq!(route.at(10.0).heading_deg, 270.0);
        assert_eq!(route.at(400.0).heading_deg, 180.0);
    }

    #[test]
    fn a_kilometre_north_is_about_nine_thousandths_of_a_degree() {
        let (lat, lon) = berlin().lat_lon(0.0, 1000.0);
        assert!((lat - 52.52 - 0.008_983).abs() < 1e-5, "{lat}");
        assert_eq!(lon, 13.405);
        let (_, lon) = berlin().lat_lon(1000.0, 0.0);
        // Longitude degrees are shorter away from the equator.
        assert!((lon - 13.405 - 0.014_76).abs() < 1e-4, "{lon}");
    }

    #[test]
    fn stops_lie_within_the_radius_and_never_at_the_depot() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let corner = berlin().random_corner(&mut rng);
            assert!(corner != Grid::DEPOT && corner.x.abs() <= 10 && corner.y.abs() <= 10);
        }
    }
}
