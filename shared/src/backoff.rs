//! Exponential backoff with jitter, for retrying transient failures
//! (a database restarting, a broker connection lost).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial,
            initial,
            max,
        }
    }

    /// The delay before the next attempt: doubles each time up to `max`, with up
    /// to 25% jitter so many retrying clients do not wake in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        base + jitter
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        backoff.next_delay();
        let capped = backoff.next_delay();
        assert!(capped >= Duration::from_millis(400) && capped <= Duration::from_millis(500));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(125));
    }
}
