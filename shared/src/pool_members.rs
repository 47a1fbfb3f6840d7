//! The package pool's membership table, `package_pool_members`: every SQL
//! statement that names it (`scripts/check-shape.py` checks it).
//!
//! Each package-worker replica writes its row every second with the shards
//! it consumes; the rows younger than [`EXPIRY`] are the live members, from
//! which every replica computes the same shard assignment
//! (`workers/src/shards/`). ingest reads them for `/api/v1/stats`.

use serde::Serialize;
use std::time::Duration;

/// A member whose last heartbeat is older than this is gone: its shards are
/// handed to the others. Long enough to ride out a slow second or two of
/// the database, short enough that a killed replica's shards move well
/// within 30 s.
pub const EXPIRY: Duration = Duration::from_secs(8);

/// Rows silent for this long are deleted (a replica killed without leaving).
const FORGOTTEN_AFTER: Duration = Duration::from_secs(3600);

/// One live member, as `/api/v1/stats` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    /// The replica's id (`WORKER_ID`, or host, process and a random part).
    pub member_id: String,
    /// The package shards it consumes: it is the active consumer on each,
    /// or about to be once the broker hands the shard over.
    pub held_shards: Vec<i16>,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Records that `member` is alive and holds `held`.
pub async fn beat(pool: &sqlx::PgPool, member: &str, held: &[u16]) -> Result<(), sqlx::Error> {
    let held: Vec<i16> = held.iter().filter_map(|s| i16::try_from(*s).ok()).collect();
    sqlx::query(
        "INSERT INTO package_pool_members (member_id, held_shards) VALUES ($1, $2) \
         ON CONFLICT (member_id) DO UPDATE SET heartbeat_at = now(), held_shards = $2",
    )
    .bind(member)
    .bind(held)
    .execute(pool)
    .await?;
    Ok(())
}

/// The live members, by id.
pub async fn live(pool: &sqlx::PgPool) -> Result<Vec<Member>, sqlx::Error> {
    sqlx::query_as(
        "SELECT member_id, held_shards, \
                (extract(epoch FROM now() - heartbeat_at) * 1000)::bigint AS heartbeat_age_ms \
         FROM package_pool_members \
         WHERE heartbeat_at > now() - make_interval(secs => $1) \
         ORDER BY member_id",
    )
    .bind(seconds(EXPIRY))
    .fetch_all(pool)
    .await
}

/// Removes `member` (a replica stopping), so the others take its shards at
/// their next heartbeat instead of after the expiry.
pub async fn leave(pool: &sqlx::PgPool, member: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM package_pool_members WHERE member_id = $1")
        .bind(member)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes the rows of replicas killed long ago.
pub async fn forget_dead(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM package_pool_members WHERE heartbeat_at < now() - make_interval(secs => $1)",
    )
    .bind(seconds(FORGOTTEN_AFTER))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
