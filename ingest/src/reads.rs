//! Where ingest's package reads go: the read replica (`DATABASE_READ_URL`)
//! when it holds everything the requester was answered and is not lagging,
//! else the primary (see [`shared::replica`] for how writes are followed).
//!
//! A watcher polls the replica's replay position and the primary's WAL
//! position every [`POLL`]. The replica is *current* while it has replayed
//! what the primary had written [`Reads::max_lag`] ago; a requester whose
//! last write the replica has not replayed, or whose last write's position
//! is unknown, reads the primary. Authorization facts and admin reads
//! always use the primary.

use crate::metrics::IngestMetrics;
use shared::cache::ViewCache;
use shared::replica::Remembered;
use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the replica's and the primary's positions are read.
const POLL: Duration = Duration::from_millis(100);

/// Reads' pools and what is known of the replica. Cloning is cheap.
#[derive(Clone)]
pub struct Reads {
    primary: PgPool,
    replica: Option<Replica>,
    cache: ViewCache,
    metrics: Arc<IngestMetrics>,
}

#[derive(Clone)]
struct Replica {
    pool: PgPool,
    /// How long a write steers its requester's reads.
    remembered: Remembered,
    /// Until when every read goes to the primary: a write could not be
    /// remembered in Redis, so no ingest would know to wait for it.
    suspended_until: Arc<Mutex<Option<Instant>>>,
    /// How far it has replayed, as last polled.
    replayed: Arc<AtomicU64>,
    /// Whether it lags less than the allowed lag (false when it cannot be
    /// asked).
    current: Arc<AtomicBool>,
}

impl Reads {
    /// Every read on the primary.
    pub fn primary_only(primary: PgPool, cache: ViewCache, metrics: Arc<IngestMetrics>) -> Self {
        Self {
            primary,
            replica: None,
            cache,
            metrics,
        }
    }

    /// Reads on `replica` where they may be, its watcher running until
    /// `stop`; the replica counts as current while it lags less than
    /// `max_lag`.
    pub fn with_replica(
        primary: PgPool,
        replica: PgPool,
        max_lag: Duration,
        cache: ViewCache,
        metrics: Arc<IngestMetrics>,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let replica = Replica {
            pool: replica,
            remembered: Remembered::for_lag(max_lag),
            suspended_until: Arc::new(Mutex::new(None)),
            replayed: Arc::new(AtomicU64::new(0)),
            current: Arc::new(AtomicBool::new(false)),
        };
        let watcher = tokio::spawn(watch(primary.clone(), replica.clone(), max_lag, stop));
        let reads = Self {
            primary,
            replica: Some(replica),
            cache,
            metrics,
        };
        (reads, watcher)
    }

    /// Whether writes must be remembered for their requesters.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The pool `requester`'s read goes to (`None`: anyone, e.g. a public
    /// lookup, who wrote nothing that could be waited for).
    pub async fn pool_for(&self, requester: Option<&str>) -> &PgPool {
        let pool = match &self.replica {
            Some(replica) if replica.current.load(Ordering::Acquire) && !replica.suspended() => {
                match self.needed_by(requester).await {
                    Some(needed) if replica.replayed.load(Ordering::Acquire) >= needed => {
                        Some(&replica.pool)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let source = if pool.is_some() { "replica" } else { "primary" };
        self.metrics.db_reads.with_label_values(&[source]).inc();
        pool.unwrap_or(&self.primary)
    }

    /// [`Self::pool_for`] the caller (their account: a device posts for its
    /// courier).
    pub async fn for_caller(&self, caller: &shared::auth::Caller) -> &PgPool {
        self.pool_for(Some(&caller.user_id.to_string())).await
    }

    /// For a read whose rows are chosen by what the caller may see (a
    /// courier's runs, a customer's packages): the primary unless the
    /// caller sees everything. Those choices are authorization facts, and a
    /// replica behind would still show a courier the packages of a run
    /// taken from them.
    pub async fn for_scoped(&self, caller: &shared::auth::Caller) -> &PgPool {
        use shared::auth::Role;
        match caller.role {
            Role::Admin | Role::Dispatcher => self.for_caller(caller).await,
            Role::Courier | Role::Customer => {
                self.metrics.db_reads.with_label_values(&["primary"]).inc();
                &self.primary
            }
        }
    }

    /// The position the replica must have replayed for `requester`; `None`
    /// when Redis cannot say.
    async fn needed_by(&self, requester: Option<&str>) -> Option<u64> {
        match requester {
            None => Some(0),
            Some(requester) => shared::replica::needed_by(&self.cache, requester)
                .await
                .ok(),
        }
    }

    /// Remembers the write `requester` was just answered (its position on
    /// the primary, if the worker said); nothing without a replica.
    pub async fn wrote(&self, requester: Option<&str>, position: Option<u64>) {
        let (Some(replica), Some(requester)) = (&self.replica, requester) else {
            return;
        };
        let remembered = replica.remembered;
        let remember =
            || shared::replica::remember_write(&self.cache, requester, position, remembered);
        let Err(error) = (match remember().await {
            Ok(()) => Ok(()),
            Err(_) => remember().await,
        }) else {
            return;
        };
        // Another ingest could serve this requester's next read without
        // knowing of the write; this one at least reads the primary, for as
        // long as the write would have been remembered.
        tracing::warn!(%error, "a write could not be remembered: reading the primary for a while");
        replica.suspend(remembered.ttl());
    }
}

impl Replica {
    fn suspended(&self) -> bool {
        let until = self.suspended_until.lock().map(|u| *u).unwrap_or(None);
        until.is_some_and(|until| Instant::now() < until)
    }

    fn suspend(&self, duration: Duration) {
        if let Ok(mut until) = self.suspended_until.lock() {
            *until = Some(Instant::now() + duration);
        }
    }
}

/// Polls both positions until `stop`.
async fn watch(primary: PgPool, replica: Replica, max_lag: Duration, stop: CancellationToken) {
    let mut written: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut primary_system = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let polled = tokio::select! {
            _ = stop.cancelled() => return,
            polled = tokio::time::timeout(POLL_TIMEOUT, poll(&primary, &replica, &mut primary_system)) => polled,
        };
        let now = Instant::now();
        let current = match polled {
            Ok(Some((primary_at, replayed))) => {
                written.push_back((now, primary_at));
                replica.replayed.store(replayed, Ordering::Release);
                replayed >= due(&mut written, now, max_lag)
            }
            // Unreachable, too slow to answer, or not a standby of this
            // primary.
            Ok(None) | Err(_) => false,
        };
        if replica.current.swap(current, Ordering::AcqRel) != current {
            tracing::info!(
                current,
                "read replica {}",
                if current {
                    "in use"
                } else {
                    "behind, unreachable or not a standby of the primary: reading the primary"
                }
            );
        }
    }
}

/// How long one poll may take before the replica counts as unreachable.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// The primary's position and how far the replica has replayed; `None` when
/// either cannot be asked or the replica does not follow this primary.
async fn poll(
    primary: &PgPool,
    replica: &Replica,
    primary_system: &mut Option<i64>,
) -> Option<(u64, u64)> {
    let system = match *primary_system {
        Some(system) => system,
        None => {
            let system = shared::replica::system_identifier(primary).await.ok()?;
            *primary_system = Some(system);
            system
        }
    };
    let (primary_at, replayed) = tokio::join!(
        shared::replica::wal_position(primary),
        shared::replica::replay_position(&replica.pool, system),
    );
    Some((primary_at.ok()?, replayed.ok()??))
}

/// What the replica must have replayed to lag less than `max_lag`: the
/// primary's position `max_lag` ago (the oldest known, early on). Forgets
/// the samples older than that one.
fn due(written: &mut VecDeque<(Instant, u64)>, now: Instant, max_lag: Duration) -> u64 {
    let cutoff = now.checked_sub(max_lag);
    while written.len() > 1 && cutoff.is_some_and(|c| written[1].0 <= c) {
        written.pop_front();
    }
    written.front().map_or(0, |(_, position)| *position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replica_is_due_where_the_primary_was_the_allowed_lag_ago() {
        let start = Instant::now();
        let lag = Duration::from_secs(2);
        let mut written = VecDeque::new();
        for (second, position) in [(0, 100), (1, 200), (2, 300), (3, 400)] {
            written.push_back((start + Duration::from_secs(second), position));
        }
        // At 3.5 s: the last sample at or before 1.5 s was written at 1 s.
        assert_eq!(
            due(&mut written, start + Duration::from_millis(3500), lag),
            200
        );
        assert_eq!(written.len(), 3, "older samples are forgotten");
        // Early on, the oldest known position.
        let mut early = VecDeque::from([(start, 100)]);
        assert_eq!(
            due(&mut early, start + Duration::from_millis(500), lag),
            100
        );
    }
}
