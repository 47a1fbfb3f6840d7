//! Resuming the "every package" feed: a dashboard that reconnects sends the
//! cursor it last held (`since_seq`) and gets the current state of each
//! package that changed since (`package_states`), not the whole list again.
//!
//! A cursor is a PostgreSQL transaction horizon: the oldest transaction still
//! running when the client's view was known complete. A change log, written
//! by triggers on `packages`, lists the packages each transaction changed
//! (read by xid: its cost is what changed, not how many packages there are),
//! so "changed since" is every package changed by that transaction or a
//! later one. Earlier transactions had all committed, and the client had
//! their changes. The log keeps about an hour: an older cursor is answered
//! incomplete, and the client reads its list again.
//!
//! The client gets a cursor in two ways:
//!
//! - `subscribed_all` carries the horizon read once the feed is bound, in the
//!   same statement as the resumed states. Whatever commits after that read
//!   comes live.
//! - Every checkpoint period, each instance reads what changed since its last
//!   checkpoint and compares it with what it dispatched live to the feed
//!   meanwhile ([`crate::hub::FeedDispatched::missed`]). The states the live
//!   stream did not carry (an event still on its way, or lost with a broker
//!   link) are sent first, then the new horizon. So a checkpoint never
//!   depends on events arriving in time. It looks back at least to the oldest
//!   cursor handed out since the previous one, and its cursor is not sent to
//!   watchers that got theirs meanwhile. A client adopts it only while no
//!   subscribe of its own is outstanding.

use crate::hub::{Hub, EVERY_PACKAGE};
use shared::frames::PackageState;
use shared::packages::feed::{self, StateRow};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

/// Package states per `package_states` frame: a resume of thousands is a
/// few dozen frames, not thousands of outbox slots.
const STATES_PER_FRAME: usize = 200;

/// What a resume reads.
#[derive(Debug)]
pub struct Changes {
    /// Where to resume from next time.
    pub cursor: i64,
    /// `package_states` frames for the packages changed since the client's
    /// cursor.
    pub frames: Vec<Utf8Bytes>,
    /// False when more packages changed than one resume sends. The client
    /// then reads its list again.
    pub complete: bool,
}

/// The current horizon and, given a cursor, the packages changed since it
/// (at most `limit`). The horizon and the rows come from one snapshot.
pub async fn changed_since(
    pool: &PgPool,
    since: Option<i64>,
    limit: usize,
) -> Result<Changes, sqlx::Error> {
    let (mut tx, cursor) = snapshot(pool).await?;
    let rows: Option<Vec<StateRow>> = match since {
        None => Some(Vec::new()),
        Some(since) => {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
            feed::changed_since(&mut tx, since, limit).await?
        }
    };
    tx.commit().await?;
    // Past the log's reach, as with more changes than one resume sends, the
    // client reads its list again.
    let complete = rows.as_ref().is_some_and(|rows| rows.len() <= limit);
    let rows = rows.unwrap_or_default();
    Ok(Changes {
        cursor,
        frames: if complete { frames(&rows) } else { Vec::new() },
        complete,
    })
}

/// A read-only transaction whose statements all see one snapshot, and that
/// snapshot's horizon: the oldest transaction still running.
async fn snapshot(
    pool: &PgPool,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, i64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let horizon =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *tx)
            .await?;
    Ok((tx, horizon))
}

/// `package_states` frames for `rows`.
fn frames(rows: &[StateRow]) -> Vec<Utf8Bytes> {
    rows.chunks(STATES_PER_FRAME)
        .filter_map(|chunk| {
            let states: Vec<PackageState> =
                chunk.iter().map(shared::packages::render::state).collect();
            crate::protocol::package_states(&states)
        })
        .map(Utf8Bytes::from)
        .collect()
}

/// The most packages one checkpoint compares: past it (an old transaction
/// holds the horizon back for long), watchers are told to read their lists
/// again rather than have the broadcaster hold it all.
const CHANGED_MAX: i64 = 200_000;

/// Checkpoints for this instance's feed watchers, every `every` until `stop`.
pub fn spawn_checkpoints(
    pool: PgPool,
    hub: Arc<Hub>,
    every: Duration,
    limit: usize,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The horizon of the last checkpoint.
        let mut last: Option<i64> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if !hub.is_watched(EVERY_PACKAGE) {
                last = None;
                hub.feed_checkpoint_begins();
                continue;
            }
            let checkpoint = tokio::select! {
                _ = stop.cancelled() => break,
                checkpoint = checkpoint(&pool, &hub, last, limit) => checkpoint,
            };
            match checkpoint {
                Ok(cursor) => last = Some(cursor),
                Err(error) => {
                    tracing::warn!(%error, "feed checkpoint failed; retrying next period")
                }
            }
        }
    })
}

/// One checkpoint: what changed since it last looked (`last`, or further back
/// to the oldest cursor given out since) and was not dispatched live, then
/// the new horizon, to every feed watcher. With nothing to look back from
/// (the first, when no watcher has a cursor yet), it only starts counting.
async fn checkpoint(
    pool: &PgPool,
    hub: &Hub,
    last: Option<i64>,
    limit: usize,
) -> Result<i64, sqlx::Error> {
    let (floor, dispatched) = hub.feed_checkpoint_begins();
    let since = match (last, floor) {
        (Some(last), Some(floor)) => Some(last.min(floor)),
        (last, floor) => last.or(floor),
    };
    let read = read_checkpoint(pool, hub, since, dispatched, limit).await;
    if read.is_err() {
        hub.lower_feed_floor(floor);
    }
    read
}

async fn read_checkpoint(
    pool: &PgPool,
    hub: &Hub,
    since: Option<i64>,
    dispatched: crate::hub::FeedDispatched,
    limit: usize,
) -> Result<i64, sqlx::Error> {
    let (mut tx, cursor) = snapshot(pool).await?;
    let Some(since) = since else {
        return Ok(cursor);
    };
    let changed = feed::changed_heads(&mut tx, since, CHANGED_MAX + 1).await?;
    // Past the log's reach (a checkpoint that failed for an hour): watchers
    // read their lists again.
    let reached = changed.is_some();
    let changed = changed.unwrap_or_default();
    let (missed, kept) = dispatched.missed(&changed);
    let complete = reached && changed.len() as i64 <= CHANGED_MAX && missed.len() <= limit;
    let rows: Vec<StateRow> = if complete && !missed.is_empty() {
        // Within the same snapshot: the states as of the horizon.
        feed::states_of(&mut tx, &missed).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    let sent = rows
        .iter()
        .map(|row| (row.tracking_number.clone(), row.event_seq))
        .collect();
    let notice = Utf8Bytes::from(crate::protocol::checkpoint(cursor, complete));
    hub.checkpoint_feed(frames(&rows), sent, notice, kept);
    Ok(cursor)
}
