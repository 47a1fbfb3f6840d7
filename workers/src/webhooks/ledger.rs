//! A delivery's row through its attempts: claimed under a lease, each
//! attempt logged before it is made and completed after, then delivered,
//! released for the next attempt, given up or cancelled. Every change is
//! one statement or one transaction, so a worker dying between two leaves
//! a state the next one picks up.

use super::client::Answer;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// A delivery claimed for one attempt.
#[derive(sqlx::FromRow)]
pub struct Claimed {
    /// This attempt's number.
    pub attempts: i32,
    pub body: Vec<u8>,
    pub event_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// What a claim found.
pub enum Claim {
    Claimed(Claimed),
    /// Another attempt holds the lease (its worker may have died).
    Held,
    /// Delivered, given up or gone: nothing to do.
    Done,
}

/// Claims the delivery for an attempt until `lease` from now: a pending
/// one, or any for an explicit `redeliver`; never while another attempt
/// holds it. The attempt is logged as started, in the same statement.
pub async fn claim(
    db: &sqlx::PgPool,
    delivery_id: Uuid,
    redeliver: bool,
    lease: Duration,
) -> Result<Claim, sqlx::Error> {
    let claimed: Option<Claimed> = sqlx::query_as(
        "WITH claimed AS ( \
             UPDATE webhook_deliveries SET attempts = attempts + 1, \
                 leased_until = now() + make_interval(secs => $3) \
             WHERE id = $1 AND (state = 'pending' OR $2) \
               AND (leased_until IS NULL OR leased_until < now()) \
             RETURNING attempts, body, event_id, created_at \
         ), logged AS ( \
             INSERT INTO webhook_attempts (delivery_id, attempt, redelivery, started_at) \
             SELECT $1, attempts, $2, now() FROM claimed ON CONFLICT DO NOTHING \
         ) \
         SELECT attempts, body, event_id, created_at FROM claimed",
    )
    .bind(delivery_id)
    .bind(redeliver)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await?;
    if let Some(claimed) = claimed {
        return Ok(Claim::Claimed(claimed));
    }
    let leased: Option<bool> = sqlx::query_scalar(
        "SELECT leased_until IS NOT NULL AND leased_until >= now() \
         FROM webhook_deliveries WHERE id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(db)
    .await?;
    Ok(if leased == Some(true) {
        Claim::Held
    } else {
        Claim::Done
    })
}

/// Completes attempt `attempt`'s log entry with what it came to.
pub async fn record(
    db: impl sqlx::PgExecutor<'_>,
    delivery_id: Uuid,
    attempt: i32,
    answer: &Answer,
) -> Result<(), sqlx::Error> {
    let error = match (&answer.error, answer.status) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(status)) if !answer.succeeded() => Some(format!("answered {status}")),
        _ => None,
    };
    sqlx::query(
        "UPDATE webhook_attempts SET duration_ms = $3, status_code = $4, response_head = $5, \
             error = $6 \
         WHERE delivery_id = $1 AND attempt = $2",
    )
    .bind(delivery_id)
    .bind(attempt)
    .bind(i32::try_from(answer.duration.as_millis()).unwrap_or(i32::MAX))
    .bind(answer.status.map(i32::from))
    .bind(&answer.head)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// A 2xx to attempt `(delivery_id, attempt)`: its log entry completed,
/// the delivery delivered and its endpoint no longer failing, in one
/// transaction (one commit, not three).
pub async fn delivered(
    db: &sqlx::PgPool,
    (delivery_id, attempt): (Uuid, i32),
    webhook_id: Uuid,
    answer: &Answer,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut *tx, delivery_id, attempt, answer).await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'delivered', \
             delivered_at = COALESCE(delivered_at, now()), leased_until = NULL WHERE id = $1",
    )
    .bind(delivery_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
    )
    .bind(webhook_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A failed attempt lets go of the delivery (the next attempt may claim it).
pub async fn release(db: &sqlx::PgPool, delivery_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET leased_until = NULL WHERE id = $1")
        .bind(delivery_id)
        .execute(db)
        .await?;
    Ok(())
}

/// No more attempts: `failed` (retried long enough) or `cancelled` (its
/// endpoint is paused or disabled).
pub async fn end(db: &sqlx::PgPool, delivery_id: Uuid, state: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET state = $2 WHERE id = $1 AND state = 'pending'")
        .bind(delivery_id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}
