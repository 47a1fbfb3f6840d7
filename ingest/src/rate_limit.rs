//! Rate limits shared by every ingest through Redis: per client address,
//! per caller (account or device key), and a strict one on sign-in and
//! sign-up per address, so guessing passwords stops within a few attempts.
//!
//! Windows are fixed minutes counted in Redis. So that a busy caller does
//! not cost a Redis round trip per request, an instance takes a lease of
//! part of the limit at a time (a twentieth, at least one) and spends it
//! locally; a lease is only granted while the window's total stays within
//! the limit. Instances can over-admit by at most one lease each.
//!
//! If Redis cannot be asked, each instance counts alone against the same
//! limit: never no limit, and never refusing everyone.

use shared::cache::ViewCache;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WINDOW: Duration = Duration::from_secs(60);
/// Counters remembered at most per instance; past it, old windows are dropped.
const MAX_KEYS: usize = 100_000;

/// Requests per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RATE_LIMIT_IP_PER_MIN`: every request, by client address.
    pub per_address: u32,
    /// `RATE_LIMIT_CALLER_PER_MIN`: authenticated requests, by account or device.
    pub per_caller: u32,
    /// `RATE_LIMIT_AUTH_PER_MIN`: sign-in and sign-up, by client address.
    pub auth: u32,
    /// `RATE_LIMIT_TRACK_PER_MIN`: the public tracking lookup, by client
    /// address: a tracking number is the only key to a package there, so
    /// guessing them must stay slow.
    pub track: u32,
}

impl Limits {
    pub const OFF: Self = Self {
        per_address: 0,
        per_caller: 0,
        auth: 0,
        track: 0,
    };
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
    limits: Limits,
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
    pub fn new(redis: ViewCache, limits: Limits) -> Self {
        Self {
            redis,
            limits,
            counters: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
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
