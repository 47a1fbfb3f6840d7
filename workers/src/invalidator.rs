//! Marking cached views stale after a commit, until Redis has taken it;
//! telling every ingest that device keys or deliveries changed (so what it
//! remembered of them is dropped); and recording which accounts changed
//! (so every ingest and broadcaster checks their sessions again).
//!
//! The first attempt is made inline. If Redis does not answer, the changes go
//! to a background task that keeps retrying (merging repeated packages, the
//! newest version wins) until Redis is back, so a view is never left stale
//! past an outage; the delivery itself is not held up, because Redis is only
//! a cache and readers skip it while it fails.

use shared::backoff::{sleep_unless_cancelled, Backoff};
use shared::cache::ViewCache;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How many packages may wait for Redis before new ones are dropped (with an
/// error in the log; their views still expire with the cache TTL).
const MAX_PENDING: usize = 100_000;

#[derive(Clone)]
pub struct Invalidator {
    cache: ViewCache,
    retries: mpsc::Sender<Stale>,
}

/// What Redis has yet to be told.
enum Stale {
    /// `(tracking number, committed version)` of changed packages.
    Packages(Vec<(String, i64)>),
    /// Device keys or deliveries changed.
    Auth,
    /// These accounts changed.
    Accounts(Vec<Uuid>),
}

impl Invalidator {
    /// Starts the retry task; it ends with `stop` after a last attempt.
    pub fn start(cache: ViewCache, stop: CancellationToken) -> (Self, JoinHandle<()>) {
        let (retries, pending) = mpsc::channel(1024);
        let task = tokio::spawn(retry_pending(cache.clone(), pending, stop));
        (Self { cache, retries }, task)
    }

    /// Marks the views of `(tracking number, committed version)` stale.
    pub async fn invalidate(&self, changes: Vec<(String, i64)>) {
        if changes.is_empty() {
            return;
        }
        let keys: Vec<(&str, i64)> = changes.iter().map(|(tn, v)| (tn.as_str(), *v)).collect();
        if let Err(error) = self.cache.invalidate_packages(&keys).await {
            tracing::warn!(%error, packages = changes.len(), "cached views not invalidated; retrying in the background");
            if self.retries.try_send(Stale::Packages(changes)).is_err() {
                tracing::error!("invalidation retry queue full; views expire with their TTL");
            }
        }
    }

    /// Device keys or deliveries changed: bumps the version every ingest
    /// polls. While Redis is down ingest cannot poll and trusts nothing it
    /// remembered, so a bump that waits for Redis loses nothing.
    pub async fn auth_changed(&self) {
        if let Err(error) = self.cache.bump_auth_version().await {
            tracing::warn!(%error, "auth version not bumped; retrying in the background");
            if self.retries.try_send(Stale::Auth).is_err() {
                tracing::error!("invalidation retry queue full; the auth version bump is dropped");
            }
        }
    }

    /// Accounts changed (a role, a disabled account, an ended session...):
    /// recorded in Redis, or retried in the background until it is. While
    /// Redis is down, ingest and the broadcaster trust nothing remembered.
    pub async fn accounts_changed(&self, accounts: Vec<Uuid>) {
        if accounts.is_empty() {
            return;
        }
        if let Err(error) = shared::auth::changes::record(&self.cache, &accounts).await {
            tracing::warn!(%error, "account changes not recorded; retrying in the background");
            if self.retries.try_send(Stale::Accounts(accounts)).is_err() {
                tracing::error!("invalidation retry queue full; account changes are dropped");
            }
        }
    }
}

/// What the retry task still owes Redis.
#[derive(Default)]
struct Pending {
    packages: HashMap<String, i64>,
    auth: bool,
    accounts: HashSet<Uuid>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.packages.is_empty() && !self.auth && self.accounts.is_empty()
    }
}

async fn retry_pending(
    cache: ViewCache,
    mut incoming: mpsc::Receiver<Stale>,
    stop: CancellationToken,
) {
    let mut owed = Pending::default();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        if owed.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return,
                next = incoming.recv() => match next {
                    Some(stale) => merge(&mut owed, stale),
                    None => return,
                },
            }
            backoff.reset();
        }
        while let Ok(stale) = incoming.try_recv() {
            merge(&mut owed, stale);
        }
        if owed.auth && cache.bump_auth_version().await.is_ok() {
            owed.auth = false;
        }
        if !owed.accounts.is_empty() {
            let accounts: Vec<Uuid> = owed.accounts.iter().copied().collect();
            if shared::auth::changes::record(&cache, &accounts)
                .await
                .is_ok()
            {
                owed.accounts.clear();
            }
        }
        let pending = &mut owed.packages;
        let auth_pending = owed.auth || !owed.accounts.is_empty();
        let keys: Vec<(&str, i64)> = pending.iter().map(|(tn, v)| (tn.as_str(), *v)).collect();
        match cache.invalidate_packages(&keys).await {
            Ok(()) if auth_pending => {
                pending.clear();
                if !sleep_unless_cancelled(backoff.next_delay(), &stop).await {
                    return;
                }
            }
            Ok(()) => {
                tracing::info!(
                    packages = pending.len(),
                    "stale cached views invalidated after a Redis outage"
                );
                pending.clear();
            }
            Err(error) => {
                tracing::debug!(%error, "Redis still unavailable for invalidations");
                if !sleep_unless_cancelled(backoff.next_delay(), &stop).await {
                    return;
                }
            }
        }
    }
}

fn merge(owed: &mut Pending, stale: Stale) {
    let changes = match stale {
        Stale::Packages(changes) => changes,
        Stale::Auth => {
            owed.auth = true;
            return;
        }
        Stale::Accounts(accounts) => {
            owed.accounts.extend(accounts);
            return;
        }
    };
    let pending = &mut owed.packages;
    for (tracking_number, version) in changes {
        if pending.len() >= MAX_PENDING && !pending.contains_key(&tracking_number) {
            tracing::error!("too many views waiting for Redis; this one expires with its TTL");
            continue;
        }
        let entry = pending.entry(tracking_number).or_insert(version);
        *entry = (*entry).max(version);
    }
}
