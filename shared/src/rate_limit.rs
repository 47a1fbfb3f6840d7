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
//! limit: never no limit, and never refusing everyone. What it admitted
//! alone is added to the shared total once Redis answers again, so a window
//! split between the two is not admitted twice.

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
    /// Requests this instance admitted in the window, however counted:
    /// while Redis cannot be asked, the instance holds itself to the limit
    /// with them.
    admitted: u32,
    /// Of them, the ones admitted while Redis could not be asked and not yet
    /// added to the shared total. They are added with the next lease taken,
    /// so an instance that loses Redis and gets it back in one window (a
    /// Redis Cluster failing over) does not count the window twice over.
    unreported: u32,
}

impl Counter {
    fn new(window: u64) -> Self {
        Self {
            window,
            leased: 0,
            exhausted: false,
            admitted: 0,
            unreported: 0,
        }
    }

    /// Admits from what the instance already holds, if it can say without
    /// asking Redis.
    fn local(&mut self) -> Option<bool> {
        if self.exhausted {
            return Some(false);
        }
        if self.leased > 0 {
            self.leased -= 1;
            self.admitted += 1;
            return Some(true);
        }
        None
    }

    /// What to add to the shared total with a lease of `lease`: the lease
    /// and the admissions not yet reported, which are taken out now (two
    /// requests asking at once must not report them both).
    fn take_report(&mut self, lease: u32) -> u32 {
        lease + std::mem::take(&mut self.unreported)
    }

    /// Redis took a lease of `lease` (after any unreported admissions) and
    /// the window's total is now `total`.
    fn shared(&mut self, total: i64, lease: u32, limit: u32) -> bool {
        // Of this lease, what still fits under the limit; the unreported
        // admissions count as before it.
        let before = total - i64::from(lease);
        let granted = (i64::from(limit) - before).clamp(0, i64::from(lease)) as u32;
        if granted == 0 {
            self.exhausted = true;
            return false;
        }
        self.leased += granted - 1;
        self.admitted += 1;
        true
    }

    /// Redis could not be asked; `reported` is what should have been added
    /// and was not (its unreported part is kept for the next ask).
    fn alone(&mut self, reported: u32, lease: u32, limit: u32) -> bool {
        self.unreported += reported - lease;
        if self.admitted >= limit {
            return false;
        }
        self.admitted += 1;
        self.unreported += 1;
        true
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
        let verdict = |admitted: bool| if admitted { Verdict::Allow } else { deny };
        let lease = (limit / 20).max(1);
        let report = {
            let mut counters = self.counters();
            let counter = counter_for(&mut counters, key, window);
            if let Some(admitted) = counter.local() {
                return verdict(admitted);
            }
            counter.take_report(lease)
        };
        let shared_key = format!("{key}:{window}");
        let taken = self
            .redis
            .take_from_window(&shared_key, report, WINDOW)
            .await;
        let mut counters = self.counters();
        let counter = counter_for(&mut counters, key, window);
        match taken {
            Ok(total) => verdict(counter.shared(total, lease, limit)),
            Err(error) => {
                tracing::debug!(%error, "rate limits counted per instance while Redis is unavailable");
                verdict(counter.alone(report, lease, limit))
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

    /// The instance as Redis sees it: one shared total per window.
    fn ask(counter: &mut Counter, total: &mut i64, redis_up: bool, limit: u32) -> bool {
        let lease = (limit / 20).max(1);
        if let Some(admitted) = counter.local() {
            return admitted;
        }
        let report = counter.take_report(lease);
        if redis_up {
            *total += i64::from(report);
            counter.shared(*total, lease, limit)
        } else {
            counter.alone(report, lease, limit)
        }
    }

    #[test]
    fn a_window_counted_partly_alone_and_partly_shared_admits_the_limit_once() {
        // Redis lost for the first six requests, back for the rest (a
        // cluster's failover within one window).
        let (mut counter, mut total, limit) = (Counter::new(1), 0, 10);
        let admitted = (0..15)
            .filter(|n| ask(&mut counter, &mut total, *n >= 6, limit))
            .count();
        assert_eq!(admitted, 10);
        // Six admitted alone, four on leases, one lease refused.
        assert_eq!(total, 11, "the window's total holds every admission");
    }

    #[test]
    fn an_instance_alone_holds_itself_to_the_limit_with_what_it_leased_before() {
        let (mut counter, mut total, limit) = (Counter::new(1), 0, 40);
        let shared = (0..25)
            .filter(|_| ask(&mut counter, &mut total, true, limit))
            .count();
        let alone = (0..25)
            .filter(|_| ask(&mut counter, &mut total, false, limit))
            .count();
        assert_eq!((shared, alone), (25, 15));
    }

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
