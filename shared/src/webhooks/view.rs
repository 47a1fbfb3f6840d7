//! An endpoint and its delivery log as the API shows them, and their reads
//! (shared by ingest's routes and the webhook pool).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    /// The account it belongs to: it gets the events of the packages this
    /// account may see, and no others.
    pub owner_id: Uuid,
    pub url: String,
    /// The event kinds it gets.
    #[sqlx(rename = "kinds")]
    pub events: Vec<String>,
    /// Only these packages' events (none: every package the owner sees).
    #[sqlx(rename = "tracking_numbers")]
    pub packages: Option<Vec<String>>,
    pub description: Option<String>,
    /// Paused by its owner: no events are delivered meanwhile.
    pub paused: bool,
    /// When it was disabled after failing for `WEBHOOK_DISABLE_AFTER_S`
    /// (its owner was mailed); `"paused": false` enables it again.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (none: the last one succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    /// Which secret signs (each rotation adds one).
    pub secret_version: i32,
    /// Until when the previous secret signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, owner_id, url, kinds, tracking_numbers, description, paused, \
    disabled_at, failing_since, secret_version, previous_secret_until, created_at, updated_at";

impl WebhookView {
    pub async fn load(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    }

    /// An account's endpoints, oldest first (at most
    /// [`super::MAX_PER_ACCOUNT`]).
    pub async fn of_owner(
        db: impl PgExecutor<'_>,
        owner_id: Uuid,
    ) -> Result<Vec<Self>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE owner_id = $1 ORDER BY created_at, id LIMIT 100"
        ))
        .bind(owner_id)
        .fetch_all(db)
        .await
    }

    /// The secret versions that sign at `now`: the current one, and the
    /// previous one during the day after a rotation.
    pub fn signing_versions(&self, now: DateTime<Utc>) -> Vec<i32> {
        let mut versions = vec![self.secret_version];
        if self.secret_version > 1 && self.previous_secret_until.is_some_and(|until| until > now) {
            versions.push(self.secret_version - 1);
        }
        versions
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    /// Made by an explicit redeliver.
    pub redelivery: bool,
    pub started_at: DateTime<Utc>,
    /// None while under way (or when the worker stopped during it).
    pub duration_ms: Option<i32>,
    pub status_code: Option<i32>,
    /// The first bytes of the answer.
    pub response_head: Option<String>,
    pub error: Option<String>,
}

/// One event owed to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// The event's id (the body's `id`).
    pub event_id: Uuid,
    /// The event's kind (the body's `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A package's event: the package and the event's `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// A courier's event (`courier_` kinds): the courier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courier_id: Option<Uuid>,
    /// `pending`, `delivered`, `failed` (retries gave up) or `cancelled`
    /// (the endpoint was paused, disabled or deleted meanwhile).
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    kind: String,
    tracking_number: Option<String>,
    seq: Option<i64>,
    courier_id: Option<Uuid>,
    state: String,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    #[sqlx(flatten)]
    attempt: AttemptView,
}

impl DeliveryView {
    /// Whether delivery `id` is endpoint `webhook_id`'s and its owner may
    /// have it again: a courier's event only while the owner `sees_couriers`
    /// (an admin or dispatcher; one demoted since gets none replayed).
    pub async fn belongs(
        db: impl PgExecutor<'_>,
        id: Uuid,
        webhook_id: Uuid,
        sees_couriers: bool,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2 \
             AND (courier_id IS NULL OR $3)",
        )
        .bind(id)
        .bind(webhook_id)
        .bind(sees_couriers)
        .fetch_optional(db)
        .await?;
        Ok(found.is_some())
    }

    /// An endpoint's latest deliveries, newest first: at most `limit`,
    /// older than `before` (a delivery id of the previous page) if given;
    /// couriers' events only for an owner who `sees_couriers`.
    pub async fn page(
        pool: &sqlx::PgPool,
        webhook_id: Uuid,
        limit: i64,
        before: Option<Uuid>,
        sees_couriers: bool,
    ) -> Result<Vec<Self>, sqlx::Error> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.event_id, d.kind, d.tracking_number, d.seq, d.courier_id, d.state, \
                    d.created_at, d.delivered_at \
             FROM webhook_deliveries d \
             WHERE d.webhook_id = $1 AND (d.courier_id IS NULL OR $4) \
               AND ($3::uuid IS NULL OR (d.created_at, d.id) < \
                 (SELECT b.created_at, b.id FROM webhook_deliveries b \
                  WHERE b.id = $3 AND b.webhook_id = $1)) \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .bind(before)
        .bind(sees_couriers)
        .fetch_all(pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let attempts: Vec<AttemptRow> = sqlx::query_as(
            "SELECT delivery_id, attempt, redelivery, started_at, duration_ms, status_code, \
                    response_head, error \
             FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Self {
                attempts: attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .map(|a| a.attempt.clone())
                    .collect(),
                id: row.id,
                event_id: row.event_id,
                kind: row.kind,
                tracking_number: row.tracking_number,
                seq: row.seq,
                courier_id: row.courier_id,
                state: row.state,
                created_at: row.created_at,
                delivered_at: row.delivered_at,
            })
            .collect())
    }
}
