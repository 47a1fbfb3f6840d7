//! When the next attempt at a failed delivery happens: exponential backoff
//! with jitter, held by the broker on one of a few delay lines (fixed-TTL
//! queues, `shared::topology::WEBHOOK_RETRY_RUNGS_S`), never by a sleeping
//! worker.
//!
//! A message's own expiration is its delay; it waits on the shortest line
//! whose TTL is at least that. A line expires messages only at its head,
//! so a message may wait behind a longer one of the same line: at most
//! the line's TTL, which is why the lines are close together.

use rand_like::unit_interval;
use std::time::Duration;

/// The delay before attempt `attempt + 1`, after `attempt` failed
/// (`attempt` ≥ 1): `first × 2^(attempt-1)`, capped at `cap`, minus up to
/// a fifth at random (so endpoints that failed together do not all come
/// back at once).
pub fn backoff(first: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let doubled = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let delay = doubled.min(cap);
    delay.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

/// The delay line for `delay`: the index of the shortest rung (seconds)
/// that holds it, or the longest.
pub fn rung(rungs_s: &[u64], delay: Duration) -> usize {
    rungs_s
        .iter()
        .position(|&rung| Duration::from_secs(rung) >= delay)
        .unwrap_or(rungs_s.len().saturating_sub(1))
}

/// A jitter in [0, 1) from the clock's nanoseconds: enough to spread
/// retries, no cryptography needed.
pub fn jitter() -> f64 {
    unit_interval()
}

mod rand_like {
    pub fn unit_interval() -> f64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        f64::from(nanos % 1_000_000) / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_only_shortens() {
        let first = Duration::from_secs(10);
        let cap = Duration::from_secs(6 * 3600);
        assert_eq!(backoff(first, cap, 1, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(first, cap, 2, 0.0), Duration::from_secs(20));
        assert_eq!(backoff(first, cap, 4, 0.0), Duration::from_secs(80));
        assert_eq!(backoff(first, cap, 40, 0.0), cap);
        assert_eq!(backoff(first, cap, 1, 1.0), Duration::from_secs(8));
        assert!(jitter() >= 0.0 && jitter() < 1.0);
    }

    #[test]
    fn a_delay_waits_on_the_shortest_line_that_holds_it() {
        let rungs = [1, 10, 60];
        assert_eq!(rung(&rungs, Duration::from_millis(200)), 0);
        assert_eq!(rung(&rungs, Duration::from_secs(1)), 0);
        assert_eq!(rung(&rungs, Duration::from_secs(11)), 2);
        assert_eq!(rung(&rungs, Duration::from_secs(600)), 2);
    }
}
