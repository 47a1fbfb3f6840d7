//! Rights that change after a subscription was allowed.
//!
//! - A courier may watch the packages of their assigned deliveries, and
//!   those move on reassign and end on completion. The workers bump a
//!   version in Redis on every delivery or device change; [`Rights::deliveries`]
//!   moves when it does, and courier connections check their
//!   subscriptions again.
//! - An account may change (a role, disabled, a verified email) or lose its
//!   session (signed out, a password reset). The workers record which
//!   accounts changed ([`shared::auth::changes`]); [`Rights::accounts`]
//!   broadcasts them, and each of those accounts' connections checks its
//!   session and every subscription again, closing when the session ended.
//!
//! Both are polled every [`POLL`], so a change reaches every connection
//! within about a second (plus up to a second of spread).

use shared::auth::changes::{Changed, Follower};
use shared::cache::ViewCache;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const POLL: Duration = Duration::from_secs(1);
/// While Redis cannot say whether anything changed, subscriptions are
/// checked against PostgreSQL this often anyway.
const BLIND_RECHECK: Duration = Duration::from_secs(10);
/// Account changes a slow connection may fall behind by before it checks
/// itself anyway.
const ACCOUNT_CHANGES_BUFFER: usize = 64;

/// What connections watch to learn that rights may have changed.
#[derive(Clone)]
pub struct Rights {
    /// Moves whenever deliveries may have changed.
    pub deliveries: watch::Receiver<u64>,
    /// Which accounts changed (subscribe once per connection).
    pub accounts: broadcast::Sender<Arc<Changed>>,
}

/// Polls until `stop`.
pub fn spawn(cache: ViewCache, stop: CancellationToken) -> (Rights, JoinHandle<()>) {
    let (changed, deliveries) = watch::channel(0u64);
    let (accounts, _) = broadcast::channel(ACCOUNT_CHANGES_BUFFER);
    let rights = Rights {
        deliveries,
        accounts: accounts.clone(),
    };
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poller = Poller::default();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let (moved, account_changes) = poller.poll(&cache).await;
            if moved {
                changed.send_modify(|n| *n += 1);
            }
            if let Some(account_changes) = account_changes {
                // No receiver (no connection yet) is fine.
                let _ = accounts.send(Arc::new(account_changes));
            }
        }
    });
    (rights, task)
}

/// What the poll remembers between rounds.
struct Poller {
    /// The rights version last read.
    seen: Option<i64>,
    /// Redis could not be read: a change may have gone unseen, so the
    /// first answer after that counts as one.
    blind: bool,
    last_blind: Instant,
    follower: Follower,
    first: bool,
}

impl Default for Poller {
    fn default() -> Self {
        Self {
            seen: None,
            blind: false,
            last_blind: Instant::now(),
            follower: Follower::default(),
            first: true,
        }
    }
}

impl Poller {
    /// One round: whether deliveries may have moved, and the account
    /// changes to announce.
    async fn poll(&mut self, cache: &ViewCache) -> (bool, Option<Changed>) {
        let moved = match cache.auth_version().await {
            Ok(version) => {
                let moved = self.blind || self.seen.is_some_and(|seen| seen != version);
                self.seen = Some(version);
                self.blind = false;
                moved
            }
            Err(error) => {
                tracing::debug!(%error, "cannot read the rights version from Redis");
                self.blind = true;
                let due = self.last_blind.elapsed() >= BLIND_RECHECK;
                if due {
                    self.last_blind = Instant::now();
                }
                due
            }
        };
        let account_changes = self.follower.poll(cache).await;
        // Nothing was open before the first poll: its "everything" is only
        // where the version stands. While blind, connections are checked
        // every BLIND_RECHECK, not every second.
        let announce = match &account_changes {
            Some(Changed::Everything) if self.first => false,
            Some(Changed::Everything) if self.blind => moved,
            Some(_) => true,
            None => false,
        };
        self.first = false;
        (moved, account_changes.filter(|_| announce))
    }
}
