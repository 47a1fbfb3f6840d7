//! Resuming the "every package" feed: a dashboard that reconnects sends the
//! cursor it last held (`since_seq`) and gets the current state of each
//! package that changed since (`package_state`), not the whole list again.
//!
//! A cursor is a PostgreSQL transaction horizon: the oldest transaction still
//! running when the client's view was known complete. Each package records
//! the transaction that last changed it (`changed_xid`, see the migration
//! `feed_position`), so "changed since" is every package changed by that
//! transaction or a later one. Earlier transactions had all committed, and
//! the client had their changes.
//!
//! The client gets a cursor in two ways:
//!
//! - `subscribed_all` carries the horizon read once the feed is bound. It
//!   comes in the same read as the resumed states. Whatever commits after
//!   that read comes live.
//! - Every [`checkpoint`](spawn_checkpoints) period, a connected client gets
//!   a newer horizon, one period after it was read. Workers publish an
//!   event right after its commit, so by then the events of every
//!   transaction the horizon counts as finished have reached the feed. A
//!   horizon read while the event stream was down, or across a drop, is
//!   never sent: events were lost there.

use crate::hub::{Hub, EVERY_PACKAGE};
use crate::update::{Data, PackageState};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a resume reads.
#[derive(Debug)]
pub struct Changes {
    /// Where to resume from next time.
    pub cursor: i64,
    /// A rendered `package_state` for each package changed since the
    /// client's cursor.
    pub states: Vec<String>,
    /// False when more packages changed than one resume sends. The client
    /// then reads its list again.
    pub complete: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    cursor: i64,
    tracking_number: Option<String>,
    event_seq: Option<i64>,
    status: Option<String>,
    current_location: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    updated_at: Option<DateTime<Utc>>,
}

/// The current horizon and, given a cursor, the packages changed since it
/// (at most `limit`). One statement, so the horizon and the rows come from
/// the same snapshot.
pub async fn changed_since(
    pool: &PgPool,
    since: Option<i64>,
    limit: usize,
) -> Result<Changes, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT h.cursor, p.tracking_number, p.event_seq, p.status, p.current_location, \
                p.latitude, p.longitude, p.updated_at \
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS cursor) h \
         LEFT JOIN LATERAL ( \
             SELECT tracking_number, event_seq, status, current_location, latitude, longitude, updated_at \
             FROM packages WHERE $1::bigint IS NOT NULL AND changed_xid >= $1 LIMIT $2 \
         ) p ON true",
    )
    .bind(since)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
    .fetch_all(pool)
    .await?;
    let cursor = rows.first().map_or(0, |row| row.cursor);
    let complete = rows.len() <= limit;
    let states = if complete {
        rows.iter().filter_map(render).collect()
    } else {
        Vec::new()
    };
    Ok(Changes {
        cursor,
        states,
        complete,
    })
}

/// The current horizon alone: a checkpoint.
async fn horizon(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        .fetch_one(pool)
        .await
}

fn render(row: &Row) -> Option<String> {
    let data = Data {
        status: row.status.as_deref(),
        location: row.current_location.as_deref(),
        latitude: row.latitude,
        longitude: row.longitude,
        timestamp: row.updated_at?,
    };
    PackageState::new(row.tracking_number.as_deref()?, row.event_seq?, data).render()
}

/// Sends feed watchers a newer cursor every `every`, one period after it was
/// read, until `stop`.
pub fn spawn_checkpoints(
    pool: PgPool,
    hub: Arc<Hub>,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The horizon read last period, and the event stream's epoch then.
        let mut taken: Option<(i64, u64)> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Some((cursor, epoch)) = taken.take() {
                if hub.stream_epoch() == Some(epoch) {
                    hub.checkpoint_feed(&crate::protocol::checkpoint(cursor));
                }
            }
            let Some(epoch) = hub.stream_epoch() else {
                continue;
            };
            if !hub.is_watched(EVERY_PACKAGE) {
                continue;
            }
            match horizon(&pool).await {
                Ok(cursor) => taken = Some((cursor, epoch)),
                Err(error) => tracing::debug!(%error, "cannot read the feed's horizon"),
            }
        }
    })
}
