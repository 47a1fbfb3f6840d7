//! A run's remaining stops, in order, into an arrival estimate each: from
//! where the courier is now, each leg's great-circle distance times the
//! road factor at the courier's pace, and a service time at every stop
//! passed on the way. The window around each estimate widens with every
//! leg and stop before it (their errors add up).

use crate::domain::Coordinates;
use crate::notices::Eta;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// When nothing is known of the courier's speed: 8 m/s (29 km/h), a
/// city van's average between stops.
pub const DEFAULT_SPEED_MPS: f64 = 8.0;
/// The narrowest window: one minute either side.
const MIN_SPREAD_S: f64 = 60.0;
/// A leg's time is uncertain by a fifth (traffic, lights) plus half a
/// minute (parking); a stop's service time by half.
const LEG_UNCERTAINTY: f64 = 0.2;
const LEG_UNCERTAINTY_S: f64 = 30.0;
const SERVICE_UNCERTAINTY: f64 = 0.5;

/// How a courier moves and serves, as learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub speed_mps: f64,
    pub road_factor: f64,
    pub service_s: f64,
}

/// A remaining stop: the package delivered there, where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub package_id: Uuid,
    pub at: Coordinates,
    /// The road metres of the leg that ends here, when a routing service
    /// said (else the great-circle distance times the road factor).
    pub road_m: Option<f64>,
}

/// Where the courier is and since when it serves the first stop, if it
/// arrived there already.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Courier {
    pub at: Coordinates,
    pub now: DateTime<Utc>,
    pub serving_since: Option<DateTime<Utc>>,
}

/// Each stop's estimate, in the run's order.
pub fn estimate(courier: &Courier, stops: &[Stop], pace: &Pace) -> Vec<(Uuid, Eta)> {
    let speed = pace.speed_mps.max(0.5);
    let mut from = courier.at;
    let mut elapsed_s = 0.0_f64;
    let mut variance = 0.0_f64;
    // The service of the stop last reached, due before the next leg.
    let mut service_due_s = 0.0_f64;
    let mut estimates = Vec::with_capacity(stops.len());
    for (index, stop) in stops.iter().enumerate() {
        match courier.serving_since.filter(|_| index == 0) {
            // There already, being served: what is left of its service.
            Some(since) => {
                let served_s = (courier.now - since).num_milliseconds() as f64 / 1000.0;
                service_due_s = (pace.service_s - served_s).max(0.0);
            }
            None => {
                elapsed_s += service_due_s;
                variance += (SERVICE_UNCERTAINTY * service_due_s).powi(2);
                let leg_m = stop
                    .road_m
                    .unwrap_or_else(|| from.distance_m(&stop.at) * pace.road_factor);
                let leg_s = leg_m / speed;
                elapsed_s += leg_s;
                variance += (LEG_UNCERTAINTY * leg_s + LEG_UNCERTAINTY_S).powi(2);
                service_due_s = pace.service_s;
            }
        }
        let at = courier.now + seconds(elapsed_s);
        let spread = seconds(variance.sqrt().max(MIN_SPREAD_S));
        estimates.push((
            stop.package_id,
            Eta {
                at,
                earliest: (at - spread).max(courier.now),
                latest: at + spread,
            },
        ));
        from = stop.at;
    }
    estimates
}

fn seconds(s: f64) -> Duration {
    Duration::milliseconds((s * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    fn pace() -> Pace {
        Pace {
            speed_mps: 10.0,
            road_factor: 1.5,
            service_s: 120.0,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-06T10:00:00Z".parse().unwrap()
    }

    /// About 1,112 m north of the start per 0.01°.
    fn stops() -> Vec<Stop> {
        [0.01, 0.02, 0.03]
            .iter()
            .map(|north| Stop {
                package_id: Uuid::new_v4(),
                at: at(52.0 + north, 13.0),
                road_m: None,
            })
            .collect()
    }

    #[test]
    fn each_stop_waits_for_the_legs_and_stops_before_it() {
        let stops = stops();
        let courier = Courier {
            at: at(52.0, 13.0),
            now: now(),
            serving_since: None,
        };
        let etas = estimate(&courier, &stops, &pace());
        let leg_s = 1_111.95 * 1.5 / 10.0;
        let expect = [leg_s, 2.0 * leg_s + 120.0, 3.0 * leg_s + 240.0];
        for ((id, eta), (stop, expected)) in etas.iter().zip(stops.iter().zip(expect)) {
            assert_eq!(*id, stop.package_id);
            let got = (eta.at - now()).num_milliseconds() as f64 / 1000.0;
            assert!((got - expected).abs() < 1.0, "{got} vs {expected}");
            assert!(eta.earliest <= eta.at && eta.at < eta.latest);
        }
        let width = |eta: &Eta| eta.latest - eta.earliest;
        assert!(
            width(&etas[2].1) > width(&etas[0].1),
            "later stops are less certain"
        );
        assert!(
            width(&etas[0].1) >= Duration::seconds(60),
            "a minute at least"
        );
    }

    #[test]
    fn a_courier_at_the_first_stop_leaves_after_its_service() {
        let stops = stops();
        let courier = Courier {
            at: stops[0].at,
            now: now(),
            serving_since: Some(now() - Duration::seconds(30)),
        };
        let etas = estimate(&courier, &stops, &pace());
        assert_eq!(etas[0].1.at, now(), "the first stop is reached");
        let leg_s = 1_111.95 * 1.5 / 10.0;
        let second = (etas[1].1.at - now()).num_milliseconds() as f64 / 1000.0;
        assert!((second - (90.0 + leg_s)).abs() < 1.0, "{second}");
        assert!(etas[1].1.earliest >= now());
    }

    #[test]
    fn a_faster_courier_arrives_sooner() {
        let stops = stops();
        let courier = Courier {
            at: at(52.0, 13.0),
            now: now(),
            serving_since: None,
        };
        let slow = estimate(&courier, &stops, &pace());
        let fast = estimate(
            &courier,
            &stops,
            &Pace {
                speed_mps: 20.0,
                ..pace()
            },
        );
        assert!(fast[2].1.at < slow[2].1.at);
        // A routed leg twice the straight line takes twice as long.
        let mut routed = stops.clone();
        routed[0].road_m = Some(2.0 * 1_111.95);
        let by_road = estimate(&courier, &routed[..1], &pace());
        let seconds = (by_road[0].1.at - now()).num_milliseconds() as f64 / 1000.0;
        assert!((seconds - 2.0 * 1_111.95 / 10.0).abs() < 1.0, "{seconds}");
        assert!(estimate(&courier, &[], &pace()).is_empty());
    }
}
