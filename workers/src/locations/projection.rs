//! The MongoDB latest positions as a projection of PostgreSQL's, written
//! behind the location windows so their events wait only for the history.
//!
//! A window's numbering marks each package whose position moved
//! (`packages.position_pending`). The projector takes marked packages in
//! rounds of at most `batch`, writes their current positions in one `update`
//! command, and clears each mark only if the package has not moved since it
//! was read, so a mark is never lost: a crash or a failed write leaves it for
//! the next round, here or in another worker process (a position written
//! twice is a no-op). A package that moves many times between rounds is
//! written once: under load the rounds coalesce instead of queueing.
//!
//! The 2dsphere collection is the slowest write of the pipeline on the
//! MongoDB stand-in (about a millisecond per statement), so the projector
//! rests as long as its last round took: it never takes more than half of the
//! store's time from the history inserts, which the live events wait for.

use super::latest::{self, Position};
use super::store::LocationStore;
use super::LocationError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Wakes the projector after a window marked packages.
#[derive(Clone, Default)]
pub struct ProjectionNudge(Arc<Notify>);

impl ProjectionNudge {
    pub fn nudge(&self) {
        self.0.notify_one();
    }
}

pub struct Projector {
    pub pool: PgPool,
    pub store: LocationStore,
    /// Packages per round.
    pub batch: i64,
    /// How often to look for marks nobody nudged about (left by a crash or
    /// by another process's failed round).
    pub interval: Duration,
}

impl Projector {
    /// Runs until `stop`; marks left then are projected by the next start.
    pub fn spawn(self, stop: CancellationToken) -> (ProjectionNudge, JoinHandle<()>) {
        let nudge = ProjectionNudge::default();
        let task = tokio::spawn(self.run(nudge.clone(), stop));
        (nudge, task)
    }

    async fn run(self, nudge: ProjectionNudge, stop: CancellationToken) {
        loop {
            let began = Instant::now();
            let outcome = self.round().await;
            // Rest as long as the round took, whether more are marked already
            // (a full round) or only once nudged.
            let took = began.elapsed();
            let rest = match outcome {
                Ok(written) if written as i64 >= self.batch => took,
                Ok(_) => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = nudge.0.notified() => {}
                        _ = tokio::time::sleep(self.interval) => {}
                    }
                    took
                }
                Err(error) => {
                    tracing::warn!(%error, "latest positions not projected; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(rest) => {}
            }
        }
    }

    /// Projects one round of marked packages; how many it wrote.
    async fn round(&self) -> Result<usize, LocationError> {
        let positions: Vec<Position> = sqlx::query_as(
            "SELECT id, tracking_number, latitude, longitude, last_seen_at, position_point_id \
             FROM packages \
             WHERE position_pending AND latitude IS NOT NULL AND longitude IS NOT NULL \
                 AND last_seen_at IS NOT NULL \
             ORDER BY updated_at LIMIT $1",
        )
        .bind(self.batch)
        .fetch_all(&self.pool)
        .await?;
        if positions.is_empty() {
            return Ok(0);
        }
        latest::write(&self.store, &positions).await?;
        let ids: Vec<Uuid> = positions.iter().map(|p| p.id).collect();
        let seen: Vec<DateTime<Utc>> = positions.iter().map(|p| p.last_seen_at).collect();
        // Only what was written: a package that moved meanwhile stays marked.
        sqlx::query(
            "UPDATE packages p SET position_pending = false \
             FROM UNNEST($1::uuid[], $2::timestamptz[]) AS v(id, seen) \
             WHERE p.id = v.id AND p.last_seen_at = v.seen",
        )
        .bind(&ids)
        .bind(&seen)
        .execute(&self.pool)
        .await?;
        Ok(positions.len())
    }
}
