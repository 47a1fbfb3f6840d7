//! A fresh estimate against what watchers were told: an estimate is
//! announced (`eta_changed`, and stored on the package) only when it moved
//! by more than a minute, so a courier's every fix does not flood them;
//! `delivery_at_risk` is raised when the estimate passes the promised time,
//! once per episode: the episode ends only when the estimate comes back a
//! minute inside the promise, so an estimate hovering at it warns once.

use crate::notices::{Eta, Notice};
use chrono::{DateTime, Duration, Utc};

/// How far an estimate must move to be announced again.
pub const ANNOUNCE_AFTER: Duration = Duration::seconds(60);
/// How far inside the promise an estimate must come back to end an episode.
const BACK_INSIDE: Duration = Duration::seconds(60);

/// What the package's watchers know.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Announced {
    pub eta: Option<Eta>,
    pub promised_by: Option<DateTime<Utc>>,
    /// Whether `delivery_at_risk` was raised for the current episode.
    pub at_risk: bool,
}

/// What to tell them, and what they then know.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub notices: Vec<Notice>,
    pub now: Announced,
}

pub fn decide(announced: &Announced, fresh: Eta) -> Decision {
    let mut notices = Vec::new();
    let mut now = *announced;
    let moved = announced
        .eta
        .is_none_or(|before| (fresh.at - before.at).abs() > ANNOUNCE_AFTER);
    if moved {
        notices.push(Notice::EtaChanged {
            eta: fresh,
            previous: announced.eta,
        });
        now.eta = Some(fresh);
    }
    if let Some(promised_by) = announced.promised_by {
        if fresh.at > promised_by && !announced.at_risk {
            notices.push(Notice::DeliveryAtRisk {
                eta: fresh,
                promised_by,
            });
            now.at_risk = true;
        } else if fresh.at <= promised_by - BACK_INSIDE {
            now.at_risk = false;
        }
    }
    Decision { notices, now }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eta(minutes: i64, seconds: i64) -> Eta {
        let at = "2026-12-06T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + Duration::minutes(minutes)
            + Duration::seconds(seconds);
        Eta {
            at,
            earliest: at - Duration::minutes(2),
            latest: at + Duration::minutes(2),
        }
    }

    fn kinds(decision: &Decision) -> Vec<&'static str> {
        decision.notices.iter().map(Notice::kind).collect()
    }

    #[test]
    fn an_estimate_is_announced_when_it_moves_by_more_than_a_minute() {
        let first = decide(&Announced::default(), eta(30, 0));
        assert_eq!(kinds(&first), ["eta_changed"]);
        let small = decide(&first.now, eta(30, 59));
        assert!(small.notices.is_empty());
        assert_eq!(small.now.eta, Some(eta(30, 0)), "the announced one stays");
        let big = decide(&small.now, eta(31, 1));
        assert_eq!(
            big.notices,
            [Notice::EtaChanged {
                eta: eta(31, 1),
                previous: Some(eta(30, 0))
            }]
        );
        assert_eq!(kinds(&decide(&big.now, eta(29, 59))), ["eta_changed"]);
    }

    #[test]
    fn a_late_run_is_at_risk_once_per_episode() {
        let promised_by = eta(30, 0).at;
        let mut announced = Announced {
            promised_by: Some(promised_by),
            ..Announced::default()
        };
        let mut raised = 0;
        // Hovering at the promise, then back well inside, then late again.
        for (minutes, seconds) in [(29, 0), (30, 30), (29, 50), (30, 40), (28, 0), (33, 0)] {
            let decision = decide(&announced, eta(minutes, seconds));
            raised += kinds(&decision).contains(&"delivery_at_risk") as usize;
            announced = decision.now;
        }
        assert_eq!(raised, 2, "one warning per episode");
        let unpromised = decide(&Announced::default(), eta(90, 0));
        assert_eq!(kinds(&unpromised), ["eta_changed"]);
    }
}
