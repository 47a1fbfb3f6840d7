//! Read replicas without losing read-your-writes.
//!
//! A worker that commits a command someone waits for reads the primary's
//! WAL position after the commit ([`wal_position`]) and puts it on the
//! reply. ingest remembers, per requester, the furthest position it
//! answered them ([`remember_write`], in Redis so every ingest knows). A
//! read by that requester may use the replica only once the replica has
//! replayed that far ([`replay_position`]); before, and whenever nothing
//! can be known (Redis down, a write whose position never came back), it
//! reads the primary. A write whose position never came back (a 202)
//! keeps its requester on the primary for a while, separately, so that it
//! cannot shorten how long a known position is remembered.

use crate::cache::ViewCache;
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// How long a write steers its requester's reads beyond the allowed lag: a
/// replica counts as current only while it has replayed what the primary
/// wrote the allowed lag ago, so after lag + this margin any current replica
/// has the write. For a 202 the margin is also how long its command may
/// take to be applied.
const MARGIN: Duration = Duration::from_secs(10);

/// How long a requester's writes keep steering its reads, given the lag the
/// replica is allowed.
#[derive(Debug, Clone, Copy)]
pub struct Remembered {
    ttl: Duration,
}

impl Remembered {
    pub fn for_lag(max_lag: Duration) -> Self {
        Self {
            ttl: max_lag + MARGIN,
        }
    }

    /// Exactly `ttl` (tests, which cannot wait for the margin).
    pub fn with_ttl(ttl: Duration) -> Self {
        Self { ttl }
    }

    /// How long a requester stays on the primary after a write could not be
    /// remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// KEYS[1] = the requester's position key; ARGV = position, ttl (ms). Keeps
/// the furthest position, and the longer of the two lifetimes.
static REMEMBER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local position = tonumber(ARGV[1])
local ttl = math.max(tonumber(ARGV[2]), redis.call('PTTL', KEYS[1]))
if position < current then position = current end
redis.call('SET', KEYS[1], string.format('%d', position), 'PX', ttl)
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

/// The server's system identifier: a standby copied from a primary has the
/// primary's.
pub async fn system_identifier(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT system_identifier FROM pg_control_system()")
        .fetch_one(pool)
        .await
}

/// How far the replica has replayed; `None` when it is not a standby of the
/// primary whose identifier is `primary_system` (another server, or a
/// promoted copy: its positions mean nothing for the primary's writes).
pub async fn replay_position(
    replica: &sqlx::PgPool,
    primary_system: i64,
) -> Result<Option<u64>, sqlx::Error> {
    let (standby, system, replayed): (bool, i64, Option<i64>) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system()), \
                (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint",
    )
    .fetch_one(replica)
    .await?;
    Ok(match (standby && system == primary_system, replayed) {
        (true, Some(replayed)) => Some(u64::try_from(replayed).unwrap_or_default()),
        _ => None,
    })
}

/// The requester's two keys, in one slot of a Redis Cluster.
fn keys(cache: &ViewCache, requester: &str) -> (String, String) {
    (
        cache.key(&format!("wrote:{{{requester}}}:at")),
        cache.key(&format!("wrote:{{{requester}}}:unknown")),
    )
}

/// Remembers that `requester` was answered a write committed at
/// `position` (`None`: not known, as for a 202).
pub async fn remember_write(
    cache: &ViewCache,
    requester: &str,
    position: Option<u64>,
    remembered: Remembered,
) -> redis::RedisResult<()> {
    let (at, unknown) = keys(cache, requester);
    let ttl = remembered.ttl.as_millis() as u64;
    cache
        .guarded(async {
            let mut connection = cache.connection();
            match position {
                Some(position) => {
                    REMEMBER
                        .key(at)
                        .arg(position.to_string())
                        .arg(ttl)
                        .invoke_async::<i64>(&mut connection)
                        .await
                }
                None => redis::cmd("SET")
                    .arg(unknown)
                    .arg(1)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut connection)
                    .await
                    .map(|()| 1),
            }
            .map(drop)
        })
        .await
}

/// The position a replica must have replayed before `requester` may read
/// from it: 0 when it wrote nothing lately, `u64::MAX` (never: the primary)
/// after a write whose position is unknown; an error when Redis cannot say
/// (read the primary).
pub async fn needed_by(cache: &ViewCache, requester: &str) -> redis::RedisResult<u64> {
    let (at, unknown) = keys(cache, requester);
    let (at, unknown): (Option<String>, Option<String>) = cache
        .guarded(async {
            redis::cmd("MGET")
                .arg(at)
                .arg(unknown)
                .query_async(&mut cache.connection())
                .await
        })
        .await?;
    if unknown.is_some() {
        return Ok(u64::MAX);
    }
    Ok(at.and_then(|s| s.parse().ok()).unwrap_or(0))
}
