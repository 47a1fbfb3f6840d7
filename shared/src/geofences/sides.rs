//! Which side of a zone a package or courier is on, moved one fix at a
//! time, with hysteresis so GPS jitter at a border does not flap.
//!
//! A fix on the other side than the subject is counted on flips it only
//! when it is clearly there (farther from the border than the fix's
//! reported accuracy) or when the subject has stayed on that side for the
//! zone's `debounce_s`; a fix back on the counted side cancels a pending
//! flip. Entering is reported at the first fix of the stay on the new side.
//! A dwell is reported once per visit, at the first fix `dwell_s` after
//! entering. A straight move between two fixes outside that passes through
//! the zone is a crossing.
//!
//! Fixes must come in `recorded_at` order and each once: the caller skips
//! any fix not newer than the last one applied (a late or redelivered one).

use super::geometry::Shape;
use crate::domain::Coordinates;
use chrono::{DateTime, Duration, Utc};

/// How a zone treats its borders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// How long a stay inside is reported as a dwell (`None`: never).
    pub dwell: Option<Duration>,
    /// How long a subject must stay on the other side, within its
    /// accuracy of the border, before the side counts.
    pub debounce: Duration,
}

/// One position report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub at: Coordinates,
    pub recorded_at: DateTime<Utc>,
    /// The reported accuracy radius in metres (0 when not reported).
    pub accuracy_m: f64,
}

/// A subject's standing with one zone. The default is outside, nothing pending.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Side {
    pub inside: bool,
    /// The first fix of a stay on the other side not counted yet.
    pub pending_since: Option<DateTime<Utc>>,
    /// When the current visit began (inside only).
    pub entered_at: Option<DateTime<Utc>>,
    /// Whether this visit's dwell was reported.
    pub dwelled: bool,
}

impl Side {
    /// Whether there is anything to remember (an outside subject with
    /// nothing pending is the default, not stored).
    pub fn is_default(&self) -> bool {
        *self == Side::default()
    }
}

/// What a fix made happen with a zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    Entered {
        at: DateTime<Utc>,
    },
    Exited {
        at: DateTime<Utc>,
    },
    Dwelled {
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    Crossed {
        at: DateTime<Utc>,
    },
}

impl Transition {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Entered { .. } => "geofence_entered",
            Self::Exited { .. } => "geofence_exited",
            Self::Dwelled { .. } => "geofence_dwelled",
            Self::Crossed { .. } => "geofence_crossed",
        }
    }
}

/// Moves `side` with one fix (`previous`: the subject's fix before it, for
/// crossings) and says what happened, in order.
pub fn step(
    shape: &Shape,
    rules: &Rules,
    side: &mut Side,
    previous: Option<&Fix>,
    fix: &Fix,
) -> Vec<Transition> {
    let mut happened = Vec::new();
    let was_inside = side.inside;
    let now_inside = shape.contains(&fix.at);
    if now_inside == side.inside {
        side.pending_since = None;
    } else {
        let since = *side.pending_since.get_or_insert(fix.recorded_at);
        let clear = shape.border_distance_m(&fix.at) > fix.accuracy_m.max(0.0);
        if clear || fix.recorded_at - since >= rules.debounce {
            side.inside = now_inside;
            side.pending_since = None;
            if now_inside {
                side.entered_at = Some(since);
                side.dwelled = false;
                happened.push(Transition::Entered { at: since });
            } else {
                side.entered_at = None;
                side.dwelled = false;
                happened.push(Transition::Exited { at: since });
            }
        }
    }
    if let (true, false, Some(entered), Some(dwell)) =
        (side.inside, side.dwelled, side.entered_at, rules.dwell)
    {
        if fix.recorded_at - entered >= dwell {
            side.dwelled = true;
            happened.push(Transition::Dwelled {
                since: entered,
                at: fix.recorded_at,
            });
        }
    }
    let stayed_out = !was_inside && !side.inside && side.pending_since.is_none();
    if let Some(previous) = previous.filter(|_| stayed_out && !now_inside) {
        if !shape.contains(&previous.at) && shape.touched_by(&previous.at, &fix.at) {
            happened.push(Transition::Crossed {
                at: fix.recorded_at,
            });
        }
    }
    happened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EARTH_RADIUS_M;

    fn north(metres: f64) -> Coordinates {
        Coordinates::new(52.0 + (metres / EARTH_RADIUS_M).to_degrees(), 13.0).unwrap()
    }

    fn zone() -> Shape {
        Shape::Circle {
            center: north(0.0),
            radius_m: 100.0,
        }
    }

    fn rules() -> Rules {
        Rules {
            dwell: Some(Duration::seconds(60)),
            debounce: Duration::seconds(30),
        }
    }

    fn fix(second: i64, metres_north: f64, accuracy_m: f64) -> Fix {
        Fix {
            at: north(metres_north),
            recorded_at: DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap(),
            accuracy_m,
        }
    }

    /// Every transition of a run of fixes, by kind.
    fn run(fixes: &[Fix]) -> Vec<&'static str> {
        let (shape, rules) = (zone(), rules());
        let mut side = Side::default();
        let mut previous: Option<&Fix> = None;
        let mut kinds = Vec::new();
        for fix in fixes {
            kinds.extend(
                step(&shape, &rules, &mut side, previous, fix)
                    .iter()
                    .map(Transition::kind),
            );
            previous = Some(fix);
        }
        kinds
    }

    #[test]
    fn jitter_at_the_border_within_accuracy_gives_one_enter_and_one_exit() {
        let mut fixes = vec![fix(0, 400.0, 10.0), fix(5, 200.0, 10.0)];
        // 40 s of fixes 5 m either side of the border, 20 m accuracy.
        for i in 0..8 {
            let metres = if i % 2 == 0 { 95.0 } else { 105.0 };
            fixes.push(fix(10 + i * 5, metres, 20.0));
        }
        fixes.push(fix(60, 20.0, 10.0)); // clearly inside
        for i in 0..8 {
            let metres = if i % 2 == 0 { 105.0 } else { 95.0 };
            fixes.push(fix(65 + i * 5, metres, 20.0));
        }
        fixes.push(fix(110, 400.0, 10.0)); // clearly out
        assert_eq!(run(&fixes), ["geofence_entered", "geofence_exited"]);
    }

    #[test]
    fn a_stay_within_accuracy_counts_after_the_debounce() {
        let fixes: Vec<Fix> = (0..8).map(|i| fix(i * 5, 95.0, 20.0)).collect();
        let (shape, rules) = (zone(), rules());
        let mut side = Side::default();
        let mut entered = Vec::new();
        for f in &fixes {
            for t in step(&shape, &rules, &mut side, None, f) {
                entered.push((t, f.recorded_at));
            }
        }
        // The stay began at 0 s; it is counted at 30 s, reported from 0 s.
        assert_eq!(
            entered,
            [(
                Transition::Entered {
                    at: fixes[0].recorded_at
                },
                fixes[6].recorded_at
            )]
        );
    }

    #[test]
    fn a_stay_inside_for_the_dwell_time_gives_one_dwell() {
        let fixes: Vec<Fix> = (0..30).map(|i| fix(i * 10, 10.0, 5.0)).collect();
        assert_eq!(run(&fixes), ["geofence_entered", "geofence_dwelled"]);
        let short: Vec<Fix> = (0..5).map(|i| fix(i * 10, 10.0, 5.0)).collect();
        assert_eq!(run(&short), ["geofence_entered"]);
    }

    #[test]
    fn a_move_straight_through_a_small_zone_is_a_crossing() {
        let through = [fix(0, -400.0, 5.0), fix(10, 400.0, 5.0)];
        assert_eq!(run(&through), ["geofence_crossed"]);
        let past = [fix(0, -400.0, 5.0), fix(10, -150.0, 5.0)];
        assert!(run(&past).is_empty());
        // A fix inside is an entry, not a crossing.
        let into = [fix(0, -400.0, 5.0), fix(10, 0.0, 5.0), fix(20, 400.0, 5.0)];
        assert_eq!(run(&into), ["geofence_entered", "geofence_exited"]);
    }
}
