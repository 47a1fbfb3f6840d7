//! Growing delays after failed sign-ins, per account and independent of
//! the address: a guesser who rotates addresses (or a botnet) still gets
//! a handful of attempts per account, then waits 1 s, 2 s, 4 s, ... up to
//! [`MAX_DELAY`] between attempts. Kept in Redis, so every ingest agrees.
//!
//! Accounts are named by a digest of their email, known or not, so the
//! delays tell nothing about which accounts exist and Redis holds no
//! addresses.

use crate::cache::ViewCache;
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// Failed attempts an account gets before delays start.
pub const FREE_ATTEMPTS: u32 = 5;
/// The longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// How long failures are remembered after the last one.
const REMEMBER: Duration = Duration::from_secs(24 * 3600);

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
}

impl SignInDelays {
    pub fn new(redis: ViewCache) -> Self {
        Self { redis }
    }

    /// The account's keys. Named by the email as it is stored (trimmed,
    /// lower case), so `Ann@x.com ` and `ann@x.com` share one budget.
    fn keys(&self, email: &str) -> (String, String) {
        let normalized = crate::domain::Email::parse(email)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        let digest = super::api_key::hash(&normalized);
        (
            self.redis.key(&format!("signin:fails:{digest}")),
            self.redis.key(&format!("signin:lock:{digest}")),
        )
    }

    /// Asks to try a password for this account now: `Some(wait)` when it
    /// must wait that long first; `None` when it may (the attempt is
    /// counted as a failure until [`Self::succeeded`] says otherwise), or
    /// when Redis cannot say (the per-address limit still holds then).
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
                tracing::debug!(%error, "a sign-in attempt was not counted");
                None
            }
        }
    }

    /// A successful sign-in forgets the failures.
    pub async fn succeeded(&self, email: &str) {
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
