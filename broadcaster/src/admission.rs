//! Who may hold how many connections, counted per instance.
//!
//! - [`Places`]: open connections per key, each held by an [`Admitted`]
//!   that gives its place back when dropped. Keyed by client network for
//!   every connection at accept (before anything is read) and again for
//!   anonymous `/ws/public` ones, and by account for signed-in ones.
//! - [`OpenRate`]: how often a network may open `/ws/public` connections
//!   (a token bucket per network), so reconnecting cannot reset the
//!   per-connection lookup budget at will.
//!
//! Networks are the key ingest's limits use (an IPv6 client's /64 is one).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use shared::admission::{Admitted, Places};

/// Keys tracked at most by [`OpenRate`].
const MAX_KEYS: usize = 200_000;

/// Connections a network may open per minute, refilled evenly.
pub struct OpenRate {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl OpenRate {
    /// `per_minute` opens per network (a burst of as many); 0: no limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one open for `network`; `Err(wait)` when it has none left.
    pub fn take(&self, network: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(network) {
            // Full buckets are as good as none: forget them.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity
            });
            if buckets.len() >= MAX_KEYS {
                return Err(Duration::from_secs(1));
            }
        }
        let (tokens, at) = buckets.entry(network.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// A per-connection budget of requests (subscribe, unsubscribe, ...): a
/// burst, refilled at a steady rate, so one connection cannot make the
/// broadcaster run queries and broker binds as fast as it can send frames.
pub struct RequestBudget {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl RequestBudget {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes one request; false when the budget is spent (0 per second: no
    /// limit).
    pub fn take(&mut self) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_and_requests_run_out_and_come_back() {
        let rate = OpenRate::new(2);
        assert!(rate.take("n").is_ok() && rate.take("n").is_ok());
        let wait = rate.take("n").unwrap_err();
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(rate.take("other").is_ok());
        let mut budget = RequestBudget::new(1000.0, 3);
        assert!(budget.take() && budget.take() && budget.take());
        assert!(!budget.take(), "burst spent");
        std::thread::sleep(Duration::from_millis(5));
        assert!(budget.take(), "refilled");
    }
}
