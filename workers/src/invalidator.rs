//! Marking cached views stale after a commit, until Redis has taken it; and
//! telling every ingest that device keys or deliveries changed (so what it
//! remembered of them is dropped).
//!
//! The first attempt is made inline. If Redis does not answer, the changes go
//! to a background task that keeps retrying (merging repeated packages, the
//! newest version wins) until Redis is back, so a view is never left stale
//! past an outage; the delivery itself is not held up, because Redis is only
//! a cache and readers skip it while it fails.

use shared::backoff::{sleep_unless_cancelled, Backoff};
use shared::cache::ViewCache;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
}

async fn retry_pending(
    cache: ViewCache,
    mut incoming: mpsc::Receiver<Stale>,
    stop: CancellationToken,
) {
    let mut pending: HashMap<String, i64> = HashMap::new();
    let mut auth_pending = false;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        if pending.is_empty() && !auth_pending {
            tokio::select! {
                _ = stop.cancelled() => return,
                next = incoming.recv() => match next {
                    Some(stale) => merge(&mut pending, &mut auth_pending, stale),
                    None => return,
                },
            }
            backoff.reset();
        }
        while let Ok(stale) = incoming.try_recv() {
            merge(&mut pending, &mut auth_pending, stale);
        }
        if auth_pending && cache.bump_auth_version().await.is_ok() {
            auth_pending = false;
        }
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

fn merge(pending: &mut HashMap<String, i64>, auth_pending: &mut bool, stale: Stale) {
    let changes = match stale {
        Stale::Packages(changes) => changes,
        Stale::Auth => {
            *auth_pending = true;
            return;
        }
    };
    for (tracking_number, version) in changes {
        if pending.len() >= MAX_PENDING && !pending.contains_key(&tracking_number) {
            tracing::error!("too many views waiting for Redis; this one expires with its TTL");
            continue;
        }
        let entry = pending.entry(tracking_number).or_insert(version);
        *entry = (*entry).max(version);
    }
}
