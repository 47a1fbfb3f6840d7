//! An endpoint's failing streak: set by its first failed attempt, cleared
//! by a 2xx ([`super::ledger::delivered`]); once it lasts
//! `WEBHOOK_DISABLE_AFTER_S`, the endpoint is disabled (once) and its
//! owner mailed.

use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// Records a failure; the owner's email when this failure disabled the
/// endpoint.
pub async fn failed(
    db: &sqlx::PgPool,
    webhook_id: Uuid,
    disable_after: Duration,
) -> Result<Option<String>, sqlx::Error> {
    let streak: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, now()) \
         WHERE id = $1 RETURNING failing_since, disabled_at",
    )
    .bind(webhook_id)
    .fetch_optional(db)
    .await?;
    let Some((failing_since, None)) = streak else {
        return Ok(None); // gone, or disabled already
    };
    if (Utc::now() - failing_since).to_std().unwrap_or_default() < disable_after {
        return Ok(None);
    }
    // One worker disables it, and mails.
    let owner: Option<String> = sqlx::query_scalar(
        "UPDATE webhooks w SET disabled_at = now(), updated_at = now() FROM users u \
         WHERE w.id = $1 AND w.disabled_at IS NULL AND u.id = w.owner_id RETURNING u.email",
    )
    .bind(webhook_id)
    .fetch_optional(db)
    .await?;
    if owner.is_some() {
        tracing::warn!(webhook = %webhook_id, "webhook disabled after failing for too long");
        sqlx::query("UPDATE webhook_revision SET revision = revision + 1")
            .execute(db)
            .await?;
    }
    Ok(owner)
}
