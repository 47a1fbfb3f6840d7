//! Rights that change after a subscription was allowed. A courier may watch
//! the packages of their assigned deliveries, and those move on reassign and
//! end on completion. The workers bump a version in Redis on every delivery
//! or device change; this task polls it each [`POLL`] and tells the
//! connections whose rights can change to check their subscriptions again
//! ([`crate::connection`]), so a courier taken off a run stops seeing its
//! packages within about a second.

use shared::auth::Role;
use shared::cache::ViewCache;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const POLL: Duration = Duration::from_secs(1);
/// While Redis cannot say whether anything changed, subscriptions are
/// checked against PostgreSQL this often anyway.
const BLIND_RECHECK: Duration = Duration::from_secs(10);

/// Whether a role's rights to packages change over time.
pub fn may_change(role: Role) -> bool {
    matches!(role, Role::Courier)
}

/// Polls until `stop`; the receiver's value moves whenever rights may have
/// changed.
pub fn spawn(cache: ViewCache, stop: CancellationToken) -> (watch::Receiver<u64>, JoinHandle<()>) {
    let (changed, receiver) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: Option<i64> = None;
        let mut last_blind = Instant::now();
        // Redis could not be read: a change may have gone unseen, so the
        // first answer after that counts as one.
        let mut blind = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let moved = match cache.auth_version().await {
                Ok(version) => {
                    let moved = blind || seen.is_some_and(|seen| seen != version);
                    seen = Some(version);
                    blind = false;
                    moved
                }
                Err(error) => {
                    tracing::debug!(%error, "cannot read the rights version from Redis");
                    blind = true;
                    let due = last_blind.elapsed() >= BLIND_RECHECK;
                    if due {
                        last_blind = Instant::now();
                    }
                    due
                }
            };
            if moved {
                changed.send_modify(|n| *n += 1);
            }
        }
    });
    (receiver, task)
}
