//! Rate limits shared by every instance through Redis, by key: ingest's
//! per-address, per-caller and sign-in limits, and the public lookups that
//! ingest and the broadcaster count together.
//!
//! Windows are fixed minutes counted in Redis. So that a busy caller does
//! not cost a Redis round trip per request, an instance takes a lease of
//! part of the limit at a time (a twentieth, at least one) and spends it
//! locally; a lease is only granted while the window's total stays within
//! the limit. Instances can over-admit by at most one lease each.
//!
//! If Redis cannot be asked, each instance counts alone against the same
//! limit: never no limit, and never refusing everyone.

use crate::cache::ViewCache;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WINDOW: Duration = Duration::from_secs(60);
/// Counters remembered at most per instance; past it, old windows are dropped.
const MAX_KEYS: usize = 100_000;

/// The key of the one limit every public lookup of a tracking number counts
/// against, per client network: `GET /api/v1/track/{tn}` on any ingest and a
/// `/ws/public` subscribe on any broadcaster alike.
pub fn public_lookup_key(network: &str) -> String {
    format!("track:{network}")
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit until the window ends.
    Deny {
        retry_after: Duration,
    },
}

pub struct RateLimiter {
    redis: ViewCache,
    counters: Mutex<HashMap<String, Counter>>,
}

/// One key's state in this instance for the current window.
#[derive(Debug, Clone, Copy)]
struct Counter {
    window: u64,
    /// Requests this instance may still admit from its lease.
    leased: u32,
    /// The shared total reached the limit: deny until the window ends.
    exhausted: bool,
    /// Requests admitted while Redis could not be asked.
    alone: u32,
}

impl Counter {
    fn new(window: u64) -> Self {
        Self {
            window,
            leased: 0,
            exhausted: false,
            alone: 0,
        }
    }
}

impl RateLimiter {
    pub fn new(redis: ViewCache) -> Self {
        Self {
            redis,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// One request against `limit` for `key` (`0`: no limit).
    pub async fn check(&self, key: &str, limit: u32) -> Verdict {
        if limit == 0 {
            return Verdict::Allow;
        }
        let (window, retry_after) = current_window();
        let deny = Verdict::Deny { retry_after };
        {
            let mut counters = self.counters();
            let counter = counter_for(&mut counters, key, window);
            if counter.exhausted {
                return deny;
            }
            if counter.leased > 0 {
                counter.leased -= 1;
                return Verdict::Allow;
            }
        }
        let lease = (limit / 20).max(1);
        let shared_key = format!("{key}:{window}");
        let taken = self
            .redis
            .take_from_window(&shared_key, lease, WINDOW)
            .await;
        let mut counters = self.counters();
        let counter = counter_for(&mut counters, key, window);
        match taken {
            Ok(total) => {
                // Of this lease, what still fits under the limit.
                let before = total - i64::from(lease);
                let granted = (i64::from(limit) - before).clamp(0, i64::from(lease)) as u32;
                if granted == 0 {
                    counter.exhausted = true;
                    return deny;
                }
                counter.leased += granted - 1;
                Verdict::Allow
            }
            Err(error) => {
                tracing::debug!(%error, "rate limits counted per instance while Redis is unavailable");
                if counter.alone >= limit {
                    return deny;
                }
                counter.alone += 1;
                Verdict::Allow
            }
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn counter_for<'a>(
    counters: &'a mut HashMap<String, Counter>,
    key: &str,
    window: u64,
) -> &'a mut Counter {
    if counters.len() >= MAX_KEYS && !counters.contains_key(key) {
        counters.retain(|_, c| c.window == window);
        // Still full of this window's keys (many networks at once): forget
        // them all. Only leases are lost; Redis keeps the true counts, so
        // an exhausted key is denied again on its next ask.
        if counters.len() >= MAX_KEYS {
            counters.clear();
        }
    }
    let counter = counters
        .entry(key.to_owned())
        .or_insert_with(|| Counter::new(window));
    if counter.window != window {
        *counter = Counter::new(window);
    }
    counter
}

/// The current window's number and the time left in it.
fn current_window() -> (u64, Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let length = WINDOW.as_secs();
    let window = now.as_secs() / length;
    let left = Duration::from_secs((window + 1) * length).saturating_sub(now);
    (window, left.max(Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_counters_stay_bounded_when_every_key_is_of_this_window() {
        let mut counters = HashMap::new();
        for n in 0..MAX_KEYS {
            counter_for(&mut counters, &format!("net-{n}"), 7);
        }
        assert_eq!(counters.len(), MAX_KEYS);
        counter_for(&mut counters, "one more", 7);
        assert_eq!(counters.len(), 1, "forgotten, not grown");
        // Keys of past windows go first, and alone when that is enough.
        for n in 0..MAX_KEYS - 1 {
            counter_for(&mut counters, &format!("old-{n}"), 6);
        }
        counter_for(&mut counters, "newest", 7);
        assert_eq!(
            counters.len(),
            2,
            "{:?}",
            counters.keys().take(3).collect::<Vec<_>>()
        );
    }
}
