//! Devices (trackers and phones posting for a courier with an API key) as
//! the API shows them, and the reads of `devices` outside the workers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A device as the API shows it (never its key or the key's hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    pub name: String,
    /// The courier whose packages it posts locations for.
    pub courier_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When its key was last replaced.
    pub rotated_at: Option<DateTime<Utc>>,
    /// When its key stopped working for good.
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, courier_id, created_at, rotated_at, revoked_at";

impl DeviceView {
    pub async fn load(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM devices WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    }

    /// Newest first; `courier_id` narrows to one courier's.
    pub async fn list(
        db: impl PgExecutor<'_>,
        courier_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Self>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM devices WHERE ($1::uuid IS NULL OR courier_id = $1) \
             ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(courier_id)
        .bind(limit)
        .fetch_all(db)
        .await
    }
}

/// The device an OsmAnd identifier's hash names, and its courier, on the
/// same terms as [`by_key`].
pub async fn by_unique_id(
    db: impl PgExecutor<'_>,
    unique_id_hash: &str,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.courier_id FROM devices d JOIN users u ON u.id = d.courier_id \
         WHERE d.unique_id_hash = $1 AND d.revoked_at IS NULL \
           AND u.role = 'courier' AND u.disabled_at IS NULL",
    )
    .bind(unique_id_hash)
    .fetch_optional(db)
    .await
}

/// The device a key hash names, and its courier: only a live key of an
/// enabled courier's device names one.
pub async fn by_key(
    db: impl PgExecutor<'_>,
    key_hash: &str,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.courier_id FROM devices d JOIN users u ON u.id = d.courier_id \
         WHERE d.key_hash = $1 AND d.revoked_at IS NULL \
           AND u.role = 'courier' AND u.disabled_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db)
    .await
}
