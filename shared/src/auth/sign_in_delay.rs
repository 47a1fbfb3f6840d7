//! Growing delays after failed sign-ins, per account and independent of
//! the address: a guesser who rotates addresses (or a botnet) still gets
//! a handful of attempts per account, then waits 1 s, 2 s, 4 s, ... up to
//! [`MAX_DELAY`] between attempts. Kept in Redis, so every ingest agrees;
//! while Redis cannot be reached, each ingest keeps the same schedule in
//! its own memory ([`LocalDelays`]), so an outage is no window for
//! unlimited guessing.
//!
//! Accounts are named by a digest of their email, known or not, so the
//! delays tell nothing about which accounts exist and Redis holds no
//! addresses.

use crate::cache::ViewCache;
use redis::Script;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Failed attempts an account gets before delays start.
pub const FREE_ATTEMPTS: u32 = 5;
/// The longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// How long failures are remembered after the last one.
const REMEMBER: Duration = Duration::from_secs(24 * 3600);
/// Accounts the in-memory fallback follows at most.
const LOCAL_MAX_ACCOUNTS: usize = 100_000;

/// The delay the `n`th attempt in a row earns for the next one.
fn delay_after(n: u32) -> Option<Duration> {
    (n > FREE_ATTEMPTS).then(|| {
        let doublings = (n - FREE_ATTEMPTS - 1).min(20);
        Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
    })
}

/// The fallback while Redis is unreachable: the Lua step's schedule, per
/// account, in this process's memory.
#[derive(Default)]
pub struct LocalDelays {
    accounts: HashMap<String, LocalAccount>,
}

struct LocalAccount {
    attempts: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

impl LocalDelays {
    /// The same contract as [`SignInDelays::attempt`], at `now`.
    pub fn attempt(&mut self, account: &str, now: Instant) -> Option<Duration> {
        if self.accounts.len() >= LOCAL_MAX_ACCOUNTS && !self.accounts.contains_key(account) {
            self.accounts
                .retain(|_, a| a.locked_until.is_some_and(|until| until > now));
            if self.accounts.len() >= LOCAL_MAX_ACCOUNTS {
                self.accounts.clear();
            }
        }
        let entry = self
            .accounts
            .entry(account.to_owned())
            .or_insert(LocalAccount {
                attempts: 0,
                locked_until: None,
                last: now,
            });
        if now.duration_since(entry.last) > REMEMBER {
            entry.attempts = 0;
        }
        if let Some(until) = entry.locked_until.filter(|until| *until > now) {
            return Some(until - now);
        }
        entry.attempts += 1;
        entry.last = now;
        entry.locked_until = delay_after(entry.attempts).map(|delay| now + delay);
        None
    }

    pub fn succeeded(&mut self, account: &str) {
        self.accounts.remove(account);
    }
}

/// KEYS = attempt counter, lock; ARGV = free attempts, max delay (s),
/// remember (ms). Refuses an attempt while the account is locked (returns
/// the lock's remaining ms); otherwise counts it, before its password is
/// checked, and locks the account for the delay the count has earned
/// (returns 0: go ahead). Counting first, in one step, is what makes the
/// limit hold for guesses sent all at once: each sees the ones before it.
static ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local free = tonumber(ARGV[1])
if n > free then
  local delay = math.min(2 ^ (n - free - 1), tonumber(ARGV[2])) * 1000
  redis.call('SET', KEYS[2], 1, 'PX', math.floor(delay))
end
return 0
",
    )
});

#[derive(Clone)]
pub struct SignInDelays {
    redis: ViewCache,
    local: Arc<Mutex<LocalDelays>>,
}

/// The account's name in the delays: a digest of the email as it is stored
/// (trimmed, lower case), so `Ann@x.com ` and `ann@x.com` share one budget.
fn digest(email: &str) -> String {
    let normalized = crate::domain::Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    super::api_key::hash(&normalized)
}

impl SignInDelays {
    pub fn new(redis: ViewCache) -> Self {
        Self {
            redis,
            local: Arc::default(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalDelays> {
        // Plain counters: usable after a panic elsewhere.
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account's two keys, in one hash slot (one script reads and
    /// writes both).
    fn keys(&self, email: &str) -> (String, String) {
        let group = format!("signin:{}", digest(email));
        (
            self.redis.tagged_key(&group, "fails"),
            self.redis.tagged_key(&group, "lock"),
        )
    }

    /// Asks to try a password for this account now: `Some(wait)` when it
    /// must wait that long first; `None` when it may (the attempt is
    /// counted as a failure until [`Self::succeeded`] says otherwise).
    /// When Redis cannot say, this process's own count decides.
    pub async fn attempt(&self, email: &str) -> Option<Duration> {
        let (fails, lock) = self.keys(email);
        let left: redis::RedisResult<i64> = self
            .redis
            .guarded(async {
                ATTEMPT
                    .key(&fails)
                    .key(&lock)
                    .arg(FREE_ATTEMPTS)
                    .arg(MAX_DELAY.as_secs())
                    .arg(REMEMBER.as_millis() as u64)
                    .invoke_async(&mut self.redis.connection())
                    .await
            })
            .await;
        match left {
            Ok(left) if left > 0 => Some(Duration::from_millis(left as u64)),
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, "sign-in delays counted in this process while Redis is unavailable");
                self.local().attempt(&digest(email), Instant::now())
            }
        }
    }

    /// A successful sign-in forgets the failures.
    pub async fn succeeded(&self, email: &str) {
        self.local().succeeded(&digest(email));
        let (fails, lock) = self.keys(email);
        let _: redis::RedisResult<i64> = self
            .redis
            .guarded(async {
                redis::cmd("DEL")
                    .arg(&fails)
                    .arg(&lock)
                    .query_async(&mut self.redis.connection())
                    .await
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_keeps_the_schedule_of_the_shared_delays() {
        let mut delays = LocalDelays::default();
        let start = Instant::now();
        for n in 1..=FREE_ATTEMPTS + 1 {
            assert_eq!(delays.attempt("a", start), None, "attempt {n}");
        }
        // The sixth earned a second's wait; a seventh at once is refused.
        assert_eq!(delays.attempt("a", start), Some(Duration::from_secs(1)));
        assert_eq!(
            delays.attempt("b", start),
            None,
            "another account is not slowed"
        );
        let later = start + Duration::from_secs(1);
        assert_eq!(delays.attempt("a", later), None);
        assert_eq!(delays.attempt("a", later), Some(Duration::from_secs(2)));
        delays.succeeded("a");
        assert_eq!(delays.attempt("a", later), None, "a success forgets");
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        assert_eq!(delay_after(FREE_ATTEMPTS), None);
        assert_eq!(delay_after(FREE_ATTEMPTS + 1), Some(Duration::from_secs(1)));
        assert_eq!(delay_after(FREE_ATTEMPTS + 4), Some(Duration::from_secs(8)));
        assert_eq!(delay_after(FREE_ATTEMPTS + 60), Some(MAX_DELAY));
    }
}
