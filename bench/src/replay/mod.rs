//! `dt-bench eta-replay`: recorded courier runs ([`recorded`]) replayed
//! fix by fix through the same arrival code the location workers run
//! ([`shared::arrivals::follow`], learning carried from run to run as the
//! workers keep it per cell), scored against when the courier really
//! arrived, beside a naive baseline: the remaining straight-line distance
//! at a constant speed. Offline: no services needed.
//!
//! The error of a stop's estimate is taken at the first fix at most 30, 15
//! and 5 minutes before its arrival (the estimate its watchers hold then:
//! the one last announced), for runs after the first few (the cells start
//! knowing nothing).

pub mod recorded;

use crate::sim::grid::Grid;
use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use recorded::{Recorded, FIX_EVERY_S};
use shared::arrivals::{Announced, CellKey, Learned, Leg, RunStop, Sample};
use shared::couriers::CourierFix;
use std::collections::HashMap;
use uuid::Uuid;

/// Minutes before arrival at which errors are taken.
pub const HORIZONS_MIN: [i64; 3] = [30, 15, 5];
/// The naive baseline's constant speed: the recorded cruise speed's mean.
pub const NAIVE_SPEED_MPS: f64 = 9.0;

/// How big a replay is.
#[derive(Debug, Clone, Copy)]
pub struct Replay {
    pub runs: usize,
    pub stops: usize,
    /// Runs replayed (learning) before errors count.
    pub warm_up: usize,
    pub seed: u64,
}

/// Absolute errors in seconds at one horizon.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub estimate: Vec<f64>,
    pub naive: Vec<f64>,
    /// A stronger straw man: the straight lines through the stops before
    /// it, in order, at the same constant speed (no service, no learning).
    pub in_order: Vec<f64>,
}

impl Errors {
    pub fn quantile(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[rank]
    }
}

/// Replays `replay.runs` recorded runs; errors per horizon, as [`HORIZONS_MIN`].
pub fn run(replay: &Replay) -> Vec<Errors> {
    let grid = Grid {
        centre: (52.52, 13.405),
        block_m: 150.0,
        radius_blocks: 12,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(replay.seed);
    let mut learned: HashMap<CellKey, Learned> = HashMap::new();
    let mut errors = vec![Errors::default(); HORIZONS_MIN.len()];
    for index in 0..replay.runs {
        let run = recorded::record(&grid, replay.stops, &mut rng);
        let scored = replay_one(&run, &mut learned);
        if index >= replay.warm_up {
            for (all, one) in errors.iter_mut().zip(scored) {
                all.estimate.extend(one.estimate);
                all.naive.extend(one.naive);
                all.in_order.extend(one.in_order);
            }
        }
    }
    errors
}

/// A run's second `s` as a time (runs start on a day of their own).
fn time(s: f64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::milliseconds((s * 1000.0) as i64)
}

/// One run's fixes through the arrival code, from a fresh leg.
fn replay_one(run: &Recorded, learned: &mut HashMap<CellKey, Learned>) -> Vec<Errors> {
    let ids: Vec<Uuid> = (0..run.stops.len())
        .map(|i| Uuid::from_u128(i as u128 + 1))
        .collect();
    let mut announced = vec![Announced::default(); run.stops.len()];
    let mut taken = vec![[false; HORIZONS_MIN.len()]; run.stops.len()];
    let mut errors = vec![Errors::default(); HORIZONS_MIN.len()];
    let mut leg = Leg::default();
    for &(t, at) in &run.fixes {
        // Delivered when the courier leaves: the stops not left yet remain.
        let remaining: Vec<RunStop> = (0..run.stops.len())
            .filter(|&i| run.left[i] > t)
            .map(|i| RunStop {
                package_id: ids[i],
                destination: Some(run.stops[i]),
                announced: announced[i],
            })
            .collect();
        let fix = CourierFix {
            point_id: Uuid::nil(),
            coordinates: at,
            measurements: Default::default(),
            recorded_at: time(t),
            is_latest: true,
        };
        let followed = shared::arrivals::follow(&mut leg, &[fix], &remaining, &[], |cell| {
            learned.get(cell).copied().unwrap_or_default()
        });
        for sample in &followed.samples {
            let (Sample::Road { cell, .. } | Sample::Service { cell, .. }) = sample;
            learned.entry(cell.clone()).or_default().add(sample);
        }
        for (package_id, decision) in followed.decisions {
            if let Some(i) = ids.iter().position(|id| *id == package_id) {
                announced[i] = decision.now;
            }
        }
        score(run, t, at, &announced, &mut taken, &mut errors);
    }
    errors
}

/// Takes each stop's error at the horizons this fix (at `t`) reaches.
fn score(
    run: &Recorded,
    t: f64,
    at: shared::domain::Coordinates,
    announced: &[Announced],
    taken: &mut [[bool; HORIZONS_MIN.len()]],
    errors: &mut [Errors],
) {
    for i in 0..run.stops.len() {
        let ahead = run.arrived[i] - t;
        for (h, minutes) in HORIZONS_MIN.iter().enumerate() {
            let horizon = (*minutes * 60) as f64;
            if taken[i][h] || ahead > horizon || ahead < 0.0 {
                continue;
            }
            taken[i][h] = true;
            // Only when this fix is the one at the horizon (a run that
            // began closer to the stop has no such fix).
            if ahead < horizon - f64::from(FIX_EVERY_S) {
                continue;
            }
            let Some(eta) = announced[i].eta else {
                continue;
            };
            let arrival = time(run.arrived[i]);
            let off = |at: DateTime<Utc>| (at - arrival).num_milliseconds().abs() as f64 / 1000.0;
            errors[h].estimate.push(off(eta.at));
            let naive = time(t + at.distance_m(&run.stops[i]) / NAIVE_SPEED_MPS);
            errors[h].naive.push(off(naive));
            let in_order = time(t + through(at, &run.stops, &run.left, t, i) / NAIVE_SPEED_MPS);
            errors[h].in_order.push(off(in_order));
        }
    }
}

/// Metres in straight lines from `at` through the stops not left yet
/// before stop `i`, to stop `i`.
fn through(
    at: shared::domain::Coordinates,
    stops: &[shared::domain::Coordinates],
    left: &[f64],
    t: f64,
    i: usize,
) -> f64 {
    let mut from = at;
    let mut metres = 0.0;
    for (stop, _) in stops[..=i].iter().zip(left).filter(|(_, left)| **left > t) {
        metres += from.distance_m(stop);
        from = *stop;
    }
    metres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_beats_the_straight_line_at_every_horizon() {
        let errors = run(&Replay {
            runs: 30,
            stops: 12,
            warm_up: 5,
            seed: 11,
        });
        for (minutes, errors) in HORIZONS_MIN.iter().zip(&errors) {
            assert!(
                errors.estimate.len() >= 20,
                "{minutes} min: {} samples",
                errors.estimate.len()
            );
            for q in [0.5, 0.9] {
                let ours = Errors::quantile(&errors.estimate, q);
                let naive = Errors::quantile(&errors.naive, q);
                assert!(
                    ours < naive,
                    "{minutes} min, q{q}: {ours:.0} s vs naive {naive:.0} s"
                );
            }
        }
    }
}
