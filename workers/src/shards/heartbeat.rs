//! The heartbeat: this replica's row in the membership table, written every
//! second with the shards it holds, and its share of the assignment the
//! live members come to.

use super::assign::assign;
use super::{ShardSet, Share};
use crate::metrics::WorkerMetrics;
use shared::backoff::sleep_unless_cancelled;
use shared::pool_members::{self, EXPIRY};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a replica writes its row and reads the others'.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Beats between two sweeps of rows left by replicas killed long ago.
const SWEEP_EVERY: u64 = 600;

pub struct Heartbeat {
    /// A pool of its own (one connection), so a busy package pool cannot
    /// starve the heartbeat into looking dead.
    pub pool: sqlx::PgPool,
    /// This replica's id in the table.
    pub member: String,
    /// The package shard count (`PACKAGE_SHARDS`).
    pub shards: u16,
    pub metrics: Arc<WorkerMetrics>,
}

impl Heartbeat {
    /// Beats until `stop`, then deletes this replica's row so the others
    /// take its shards at once.
    pub fn spawn(self, stop: CancellationToken) -> (Share, JoinHandle<()>) {
        let (wanted, following) = watch::channel(ShardSet::new());
        let share = Share::following(following, self.member.clone());
        let held = share.held.subscribe();
        (share, tokio::spawn(self.run(wanted, held, stop)))
    }

    async fn run(
        self,
        wanted: watch::Sender<ShardSet>,
        held: watch::Receiver<ShardSet>,
        stop: CancellationToken,
    ) {
        let mut last_beat: Option<Instant> = None;
        let mut failing = false;
        for beat in 0u64.. {
            let holding: Vec<u16> = held.borrow().iter().copied().collect();
            match self.beat(&holding).await {
                Ok(share) => {
                    if last_beat.is_none() {
                        tracing::info!(member = %self.member, "joined the package pool");
                    }
                    last_beat = Some(Instant::now());
                    failing = false;
                    update(&wanted, share, &self.member);
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "package pool heartbeat failed; retrying");
                        failing = true;
                    }
                    // The others stop counting this replica after the
                    // expiry and take its shards: let them go here too.
                    if last_beat.is_none_or(|at| at.elapsed() > EXPIRY) {
                        update(&wanted, ShardSet::new(), &self.member);
                    }
                }
            }
            if beat % SWEEP_EVERY == SWEEP_EVERY - 1 {
                let _ = pool_members::forget_dead(&self.pool).await;
            }
            if !sleep_unless_cancelled(INTERVAL, &stop).await {
                break;
            }
        }
        self.leave().await;
    }

    /// Writes this replica's row and returns its share of the live members'
    /// assignment.
    async fn beat(&self, holding: &[u16]) -> Result<ShardSet, sqlx::Error> {
        pool_members::beat(&self.pool, &self.member, holding).await?;
        let live = pool_members::live(&self.pool).await?;
        self.metrics.pool_members.set(live.len() as i64);
        let ids: Vec<String> = live.into_iter().map(|m| m.member_id).collect();
        let mut assignment = assign(&ids, self.shards);
        Ok(assignment
            .remove(&self.member)
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    async fn leave(&self) {
        let leaving = pool_members::leave(&self.pool, &self.member);
        match tokio::time::timeout(Duration::from_secs(2), leaving).await {
            Ok(Ok(())) => tracing::info!(member = %self.member, "left the package pool"),
            // The row ages out after the expiry instead.
            _ => tracing::warn!(member = %self.member, "could not leave the package pool"),
        }
    }
}

fn update(wanted: &watch::Sender<ShardSet>, share: ShardSet, member: &str) {
    wanted.send_if_modified(|current| {
        if *current == share {
            return false;
        }
        tracing::info!(member, shards = ?share, "package shards assigned");
        *current = share;
        true
    });
}

/// This replica's id: `WORKER_ID`, or the host name, the process id and a
/// random part (a restarted replica is a new member; its old row ages out).
pub fn member_id(configured: Option<&str>) -> String {
    if let Some(id) = configured {
        return id.to_owned();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..6])
}
