//! Which zones a package or courier is in now (`geofence_presence`, kept
//! by the location pool), for their reads.

use super::zone::ZoneIn;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The zones the subject (a package's or courier's id) is inside, the
/// earliest entered first.
pub async fn zones_in(
    db: impl PgExecutor<'_>,
    subject_id: Uuid,
) -> Result<Vec<ZoneIn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT zone_id AS id, zone_name AS name, COALESCE(entered_at, now()) AS since \
         FROM geofence_presence WHERE subject_id = $1 AND inside ORDER BY since, zone_id LIMIT 100",
    )
    .bind(subject_id)
    .fetch_all(db)
    .await
}
