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
