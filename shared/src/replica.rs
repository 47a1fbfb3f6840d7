//! Read replicas without losing read-your-writes.
//!
//! A worker that commits a command someone waits for reads the primary's
//! WAL position after the commit ([`wal_position`]) and puts it on the
//! reply. ingest remembers, per requester, the furthest position it
//! answered them ([`remember_write`], in Redis so every ingest knows). A
//! read by that requester may use the replica only once the replica has
//! replayed that far ([`replay_position`]); before, and whenever nothing
//! can be known (Redis down, a write whose position never came back), it
//! reads the primary.

use crate::cache::ViewCache;
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// How long a requester's last write keeps steering its reads: longer than
/// any replica lag worth reading from.
pub const REMEMBERED: Duration = Duration::from_secs(60);

/// What [`remember_write`] stores for a write whose position is unknown (a
/// 202, an outcome from an older worker): the primary, for a while.
const UNKNOWN: u64 = u64::MAX;

/// How long an unknown position sends a requester's reads to the primary.
const UNKNOWN_FOR: Duration = Duration::from_secs(10);

/// KEYS[1] = the requester's key; ARGV = position, ttl (ms). Keeps the
/// furthest position.
static REMEMBER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local position = tonumber(ARGV[1])
if position > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
",
    )
});

/// The primary's WAL position now: after a commit, at least that commit's.
pub async fn wal_position(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let position: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(position).unwrap_or_default())
}

/// How far the replica has replayed (its own WAL position if it is, in
/// fact, a primary).
pub async fn replay_position(replica: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let position: i64 = sqlx::query_scalar(
        "SELECT (coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - '0/0'::pg_lsn)::bigint",
    )
    .fetch_one(replica)
    .await?;
    Ok(u64::try_from(position).unwrap_or_default())
}

fn key(cache: &ViewCache, requester: &str) -> String {
    cache.key(&format!("wrote:{requester}"))
}

/// Remembers that `requester` was answered a write committed at
/// `position` (`None`: not known).
pub async fn remember_write(
    cache: &ViewCache,
    requester: &str,
    position: Option<u64>,
) -> redis::RedisResult<()> {
    let (position, ttl) = match position {
        Some(position) => (position, REMEMBERED),
        None => (UNKNOWN, UNKNOWN_FOR),
    };
    cache
        .guarded(async {
            REMEMBER
                .key(key(cache, requester))
                .arg(position.to_string())
                .arg(ttl.as_millis() as u64)
                .invoke_async::<i64>(&mut cache.connection())
                .await
                .map(drop)
        })
        .await
}

/// The position a replica must have replayed before `requester` may read
/// from it: 0 when it wrote nothing lately; an error when Redis cannot say
/// (read the primary).
pub async fn needed_by(cache: &ViewCache, requester: &str) -> redis::RedisResult<u64> {
    let stored: Option<String> = cache
        .guarded(async {
            redis::cmd("GET")
                .arg(key(cache, requester))
                .query_async(&mut cache.connection())
                .await
        })
        .await?;
    Ok(stored.and_then(|s| s.parse().ok()).unwrap_or(0))
}
