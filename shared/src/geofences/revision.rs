//! `geofence_revision`: moved on after every zone write to MongoDB, so
//! the location workers know to reload the zones that changed.

use sqlx::PgExecutor;

/// Moves the zone revision on (after a zone write).
pub async fn bump_revision(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE geofence_revision SET revision = revision + 1")
        .execute(db)
        .await
        .map(drop)
}

pub async fn revision(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT revision FROM geofence_revision")
        .fetch_one(db)
        .await
}
