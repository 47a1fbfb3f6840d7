//! Which accounts changed, for everyone who remembers what an account may
//! do: a role change, a disabled account, a verified email, a password
//! reset, an ended session. The workers record each change in Redis under a
//! version; every ingest and broadcaster polls the version each second and
//! reads which accounts changed since the one it saw, then checks only
//! those again (their remembered tokens, their open WebSockets). A reader
//! that fell too far behind, or cannot reach Redis, checks everything.
//!
//! Separate from the rights version ([`crate::cache::ViewCache::auth_version`],
//! bumped by deliveries and devices): a delivery change must not make every
//! session be checked again.

use crate::cache::ViewCache;
use redis::Script;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// Changes kept per version window: a reader more than this many versions
/// behind checks every account.
pub const KEPT_VERSIONS: i64 = 10_000;

/// KEYS = version, changes (sorted set: account → version it changed in),
/// epoch; ARGV = kept versions, a new epoch, then the accounts. Returns the
/// new version. The epoch names this log: a flushed Redis starts another,
/// which readers notice even when the version climbs back past theirs.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[3], ARGV[2], 'NX')
local v = redis.call('INCR', KEYS[1])
for i = 3, #ARGV do redis.call('ZADD', KEYS[2], v, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', v - tonumber(ARGV[1]))
return v
",
    )
});

struct Keys {
    version: String,
    changes: String,
    epoch: String,
}

fn keys(cache: &ViewCache) -> Keys {
    Keys {
        // One hash slot for the three (one script writes them all). Renamed
        // from the untagged keys of older releases: readers see a new epoch
        // and check every account once.
        version: cache.tagged_key("accounts", "version"),
        changes: cache.tagged_key("accounts", "changes"),
        epoch: cache.tagged_key("accounts", "epoch"),
    }
}

/// Records that `accounts` changed (one version for all of them).
pub async fn record(cache: &ViewCache, accounts: &[Uuid]) -> redis::RedisResult<i64> {
    let keys = keys(cache);
    let mut invocation = RECORD.prepare_invoke();
    invocation
        .key(keys.version)
        .key(keys.changes)
        .key(keys.epoch)
        .arg(KEPT_VERSIONS)
        .arg(Uuid::new_v4().simple().to_string());
    for account in accounts {
        invocation.arg(account.to_string());
    }
    invocation.invoke_async(&mut cache.connection()).await
}

/// Where the log stands: its epoch (`None` before any change) and version
/// (0 before any change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub epoch: Option<String>,
    pub version: i64,
}

/// The log's current position.
pub async fn position(cache: &ViewCache) -> redis::RedisResult<Position> {
    let keys = keys(cache);
    let (version, epoch): (Option<i64>, Option<String>) = redis::cmd("MGET")
        .arg(keys.version)
        .arg(keys.epoch)
        .query_async(&mut cache.connection())
        .await?;
    Ok(Position {
        epoch,
        version: version.unwrap_or_default(),
    })
}

/// What changed between two versions a reader saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// These accounts, and no other.
    Accounts(HashSet<Uuid>),
    /// The reader cannot know which: every account may have changed.
    Everything,
}

impl Changed {
    pub fn includes(&self, account: Uuid) -> bool {
        match self {
            Self::Accounts(accounts) => accounts.contains(&account),
            Self::Everything => true,
        }
    }
}

/// The accounts that changed after version `seen`, up to `now`.
pub async fn since(cache: &ViewCache, seen: i64, now: i64) -> redis::RedisResult<Changed> {
    if now == seen {
        return Ok(Changed::Accounts(HashSet::new()));
    }
    // The version went back: Redis was flushed, restored from an older
    // snapshot or failed over to a replica that missed writes. Changes may
    // have been lost with it, so nothing remembered can be vouched for.
    if now < seen {
        return Ok(Changed::Everything);
    }
    if now - seen >= KEPT_VERSIONS {
        return Ok(Changed::Everything);
    }
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys(cache).changes)
        .arg(format!("({seen}"))
        .arg(now)
        .query_async(&mut cache.connection())
        .await?;
    Ok(Changed::Accounts(
        members.iter().filter_map(|m| m.parse().ok()).collect(),
    ))
}

/// Follows the log: each call says what changed since the last one.
#[derive(Debug, Default)]
pub struct Follower {
    seen: Option<Position>,
    /// Redis could not be read: whatever changed meanwhile is unknown.
    blind: bool,
}

impl Follower {
    /// What changed since the last poll; `None` for nothing. The first
    /// poll, a failed one, the first one after a failure and one that
    /// finds another log (Redis flushed or replaced) return `Everything`:
    /// what was remembered before cannot be vouched for.
    pub async fn poll(&mut self, cache: &ViewCache) -> Option<Changed> {
        let now = match position(cache).await {
            Ok(now) => now,
            Err(error) => {
                tracing::debug!(%error, "cannot read the accounts version from Redis");
                self.blind = true;
                return Some(Changed::Everything);
            }
        };
        let previous = self.seen.replace(now.clone());
        if std::mem::take(&mut self.blind) {
            return Some(Changed::Everything);
        }
        let Some(seen) = previous else {
            return Some(Changed::Everything);
        };
        // Another log than the one seen: the one seen was lost. (A log that
        // began since an empty one is read like any other.)
        if seen.epoch.is_some() && now.epoch != seen.epoch {
            return Some(Changed::Everything);
        }
        if now.version == seen.version {
            return None;
        }
        match since(cache, seen.version, now.version).await {
            Ok(changed) => Some(changed),
            Err(_) => {
                self.blind = true;
                Some(Changed::Everything)
            }
        }
    }
}
