//! The Redis side of the cached package views.
//!
//! Ingest reads and fills the view of a package (cache-aside); workers
//! invalidate it after every committed change. Redis is only a cache: every
//! call here has a short timeout, and callers treat an error as a miss.
//!
//! A view can never go backwards. Each key is a hash `{v, json}`: the package's
//! `version` and its JSON. A worker does not delete a view, it leaves a
//! tombstone `{v}` holding the version it committed; a reader may only store a
//! view at least as new as the tombstone, and never replace a newer view.
//! Without that, a reader that read the row just before a commit could store
//! the old row just after the worker's delete. Both rules run as Lua scripts,
//! so each check and write is atomic.

use crate::redis_link::{RedisLink, RedisTarget};
use redis::Script;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// How long a cached view (or a tombstone) lives when no write replaces it.
pub const VIEW_TTL: Duration = Duration::from_secs(300);

/// After a Redis error, reads fail fast for this long instead of each waiting
/// for a timeout: an outage costs reads nothing but the cache.
const BACKOFF_AFTER_ERROR: Duration = Duration::from_secs(1);

/// KEYS[1] = view key; ARGV = version, json, ttl (ms). Stores the view unless a
/// newer view or a newer tombstone is there. Returns 1 if stored.
static PUT_VIEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'json')
local cached = tonumber(cur[1])
local version = tonumber(ARGV[1])
if cached then
  if cur[2] and cached >= version then return 0 end
  if (not cur[2]) and cached > version then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', version, 'json', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// KEYS = view keys; ARGV = ttl (ms), the invalidations channel, then one
/// committed version per key. Replaces each view older than its version by
/// a tombstone of that version, and announces every key on the channel (in
/// the same script: no ingest can read the tombstone and miss the news).
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  local version = tonumber(ARGV[i + 2])
  local cached = tonumber(redis.call('HGET', key, 'v'))
  if (not cached) or cached < version then
    redis.call('DEL', key)
    redis.call('HSET', key, 'v', version)
    redis.call('PEXPIRE', key, ttl)
  end
end
redis.call('PUBLISH', ARGV[2], table.concat(KEYS, '\n'))
return #KEYS
",
    )
});

/// KEYS[1] = a rate-limit window's counter; ARGV = how many to take, the
/// window's length (ms). Returns the count after taking.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
",
    )
});

/// Lua shared by the two scripts below: Redis's clock in ms, and removing
/// the reports in KEYS[1] that lapsed (`"<connections> <until ms>"`).
const PRUNE_LAPSED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total, live = 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local count, untill = string.match(all[i + 1], '^(%-?%d+) (%d+)$')
  if count and tonumber(untill) > now then
    total = total + tonumber(count)
    live = live + 1
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
";

/// KEYS[1] = the reports hash; ARGV = instance, connections, ttl (ms).
/// Stores the report until Redis's now + ttl; the hash itself lapses when
/// nobody reports.
static REPORT_CONNECTIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{PRUNE_LAPSED}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1"
    ))
});

/// KEYS[1] = the reports hash. Returns {connections, live instances}.
static COUNT_CONNECTIONS: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{PRUNE_LAPSED}\nreturn {{total, live}}")));

#[derive(Clone)]
pub struct ViewCache {
    connection: RedisLink,
    prefix: String,
    /// Milliseconds since `epoch` before which reads are skipped.
    skip_until_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl ViewCache {
    /// Does not connect: the first command does, and a Redis that is down at
    /// start-up only costs cache misses until it comes back.
    pub fn new(target: &RedisTarget, prefix: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            connection: RedisLink::new(target)?,
            prefix: prefix.to_owned(),
            skip_until_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    /// `suffix` under this deployment's prefix: the key modules that keep
    /// their own state in Redis use ([`crate::auth`], [`crate::rate_limit`]).
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// A key of `group` (`{<prefix><group>}:<name>`): keys of one group share
    /// a Redis Cluster hash slot, so one script or `MGET` may touch them all.
    pub fn tagged_key(&self, group: &str, name: &str) -> String {
        format!("{{{}{group}}}:{name}", self.prefix)
    }

    /// A handle on the shared connection (it multiplexes; cloning is cheap).
    pub fn connection(&self) -> RedisLink {
        self.connection.clone()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs a read or fill unless Redis failed very recently; an error opens
    /// the fail-fast window.
    pub async fn guarded<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis recently failed; skipping",
            )));
        }
        let result = command.await;
        if result.is_err() {
            let until = self.now_ms() + BACKOFF_AFTER_ERROR.as_millis() as u64;
            self.skip_until_ms.store(until, Ordering::Relaxed);
        }
        result
    }

    pub fn package_key(&self, tracking_number: &str) -> String {
        format!("{}view:package:{tracking_number}", self.prefix)
    }

    /// The tracking number a view key names (`None`: not a view key of
    /// this deployment).
    pub fn tracking_number_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?
            .strip_prefix("view:package:")
    }

    /// The channel every invalidation is announced on (its message: the
    /// invalidated view keys, one per line), so ingests' near caches
    /// ([`crate::cache`] users) drop what they hold.
    pub fn invalidations_channel(&self) -> String {
        format!("{}views:invalidated", self.prefix)
    }

    /// The cached JSON view; `None` when absent or invalidated.
    pub async fn get_package(&self, tracking_number: &str) -> redis::RedisResult<Option<String>> {
        let key = self.package_key(tracking_number);
        self.guarded(async {
            redis::cmd("HGET")
                .arg(&key)
                .arg("json")
                .query_async(&mut self.connection.clone())
                .await
        })
        .await
    }

    /// Stores the view of `version` unless the cache knows a newer one.
    /// Returns whether it was stored.
    pub async fn put_package(
        &self,
        tracking_number: &str,
        version: i64,
        json: &str,
    ) -> redis::RedisResult<bool> {
        let key = self.package_key(tracking_number);
        self.guarded(async {
            PUT_VIEW
                .key(&key)
                .arg(version)
                .arg(json)
                .arg(VIEW_TTL.as_millis() as u64)
                .invoke_async(&mut self.connection.clone())
                .await
        })
        .await
    }

    /// Marks the views of `(tracking number, committed version)` stale, in one
    /// round trip (on a cluster, one per view: they lie in different slots,
    /// sent at once). Not guarded: skipping it would leave a stale view, so
    /// the caller retries a failure.
    pub async fn invalidate_packages(&self, changes: &[(&str, i64)]) -> redis::RedisResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.connection.is_cluster() {
            let each = changes
                .iter()
                .map(|change| self.invalidate_together(std::slice::from_ref(change)));
            return futures_util::future::try_join_all(each).await.map(drop);
        }
        self.invalidate_together(changes).await
    }

    /// One script over all of `changes`' views (one slot, or one server).
    async fn invalidate_together(&self, changes: &[(&str, i64)]) -> redis::RedisResult<()> {
        let mut invocation = INVALIDATE.prepare_invoke();
        invocation
            .arg(VIEW_TTL.as_millis() as u64)
            .arg(self.invalidations_channel());
        for (tracking_number, version) in changes {
            invocation
                .key(self.package_key(tracking_number))
                .arg(*version);
        }
        invocation
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
    }

    fn auth_version_key(&self) -> String {
        format!("{}auth:version", self.prefix)
    }

    /// Says that device keys or deliveries changed: every ingest drops what
    /// it remembered of them (it polls [`Self::auth_version`]).
    pub async fn bump_auth_version(&self) -> redis::RedisResult<()> {
        redis::cmd("INCR")
            .arg(self.auth_version_key())
            .query_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
    }

    /// The current version of device keys and deliveries (0 before any change).
    pub async fn auth_version(&self) -> redis::RedisResult<i64> {
        redis::cmd("GET")
            .arg(self.auth_version_key())
            .query_async::<Option<i64>>(&mut self.connection.clone())
            .await
            .map(Option::unwrap_or_default)
    }

    /// Adds `count` to the rate-limit counter `key` of a window lasting
    /// `window`, shared by every ingest; returns the window's total so far.
    pub async fn take_from_window(
        &self,
        key: &str,
        count: u32,
        window: Duration,
    ) -> redis::RedisResult<i64> {
        let key = format!("{}rl:{key}", self.prefix);
        self.guarded(async {
            TAKE.key(&key)
                .arg(count)
                .arg(window.as_millis() as u64)
                .invoke_async(&mut self.connection.clone())
                .await
        })
        .await
    }

    fn broadcasters_key(&self) -> String {
        format!("{}stats:broadcasters", self.prefix)
    }

    /// One broadcaster instance's count of open connections, good for `ttl`
    /// by Redis's clock (hosts' clocks may disagree): an instance that dies
    /// stops counting when its report lapses.
    pub async fn report_connections(
        &self,
        instance: &str,
        connections: i64,
        ttl: Duration,
    ) -> redis::RedisResult<()> {
        self.guarded(async {
            REPORT_CONNECTIONS
                .key(self.broadcasters_key())
                .arg(instance)
                .arg(connections)
                .arg(ttl.as_millis() as u64)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
                .map(drop)
        })
        .await
    }

    /// Takes an instance's report back (it is stopping).
    pub async fn withdraw_connections(&self, instance: &str) -> redis::RedisResult<()> {
        redis::cmd("HDEL")
            .arg(self.broadcasters_key())
            .arg(instance)
            .query_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
    }

    /// Open WebSocket connections over every live broadcaster, and how many
    /// instances reported.
    pub async fn broadcaster_connections(&self) -> redis::RedisResult<(i64, usize)> {
        let (total, live): (i64, i64) = self
            .guarded(async {
                COUNT_CONNECTIONS
                    .key(self.broadcasters_key())
                    .invoke_async(&mut self.connection.clone())
                    .await
            })
            .await?;
        Ok((total, usize::try_from(live).unwrap_or_default()))
    }

    /// Pings Redis directly, ignoring the fail-fast window (health checks).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.connection.clone())
            .await
            .map(drop)
    }
}
