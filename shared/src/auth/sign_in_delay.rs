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

/// KEYS = failure counter, lock; ARGV = free attempts, max delay (s),
/// remember (ms). Counts a failure and locks the account for the delay it
/// earned. Returns the lock's length in ms (0: none yet).
static FAILED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local free = tonumber(ARGV[1])
if n <= free then return 0 end
local delay = math.min(2 ^ (n - free - 1), tonumber(ARGV[2])) * 1000
redis.call('SET', KEYS[2], 1, 'PX', math.floor(delay))
return math.floor(delay)
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

    fn keys(&self, email: &str) -> (String, String) {
        let digest = super::api_key::hash(&email.to_lowercase());
        (
            self.redis.key(&format!("signin:fails:{digest}")),
            self.redis.key(&format!("signin:lock:{digest}")),
        )
    }

    /// How long the account must still wait before its next attempt;
    /// `None` when it may try now (or Redis cannot say: the per-address
    /// limit still holds then).
    pub async fn wait_left(&self, email: &str) -> Option<Duration> {
        let (_, lock) = self.keys(email);
        let left: i64 = self
            .redis
            .guarded(async {
                redis::cmd("PTTL")
                    .arg(&lock)
                    .query_async(&mut self.redis.connection())
                    .await
            })
            .await
            .ok()?;
        (left > 0).then(|| Duration::from_millis(left as u64))
    }

    /// Counts a failed attempt.
    pub async fn failed(&self, email: &str) {
        let (fails, lock) = self.keys(email);
        let counted: redis::RedisResult<i64> = self
            .redis
            .guarded(async {
                FAILED
                    .key(&fails)
                    .key(&lock)
                    .arg(FREE_ATTEMPTS)
                    .arg(MAX_DELAY.as_secs())
                    .arg(REMEMBER.as_millis() as u64)
                    .invoke_async(&mut self.redis.connection())
                    .await
            })
            .await;
        if let Err(error) = counted {
            tracing::debug!(%error, "a failed sign-in was not counted");
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
