//! The audit trail: who (account, device), when, from which address, and
//! what changed, for every applied write. The workers write it (in the
//! command's transaction, or right after a location window); admins read it
//! through ingest.

use crate::auth::Principal;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One row to write.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The message that caused it; with `part`, unique.
    pub event_id: Uuid,
    /// Tells apart the rows one message causes ('' for a command).
    pub part: String,
    pub occurred_at: DateTime<Utc>,
    pub principal: Principal,
    /// What kind of write: `create`, `status`, `locations`, ...
    pub action: String,
    /// What it was done to: a tracking number, an account, a delivery, a device.
    pub target: Option<String>,
    /// What changed (never a password or key hash).
    pub change: serde_json::Value,
}

/// Writes the entries in one statement; ones written before are skipped.
pub async fn record(db: impl PgExecutor<'_>, entries: &[AuditEntry]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    sqlx::query(
        "INSERT INTO audit_log (event_id, part, occurred_at, actor, actor_role, device_id, address, action, target, change) \
         SELECT e, p, t, a, r, d, ad, ac, tg, c::jsonb FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], \
             $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
             AS v(e, p, t, a, r, d, ad, ac, tg, c) \
         ON CONFLICT (event_id, part) DO NOTHING",
    )
    .bind(entries.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.part.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(column(|e| e.principal.subject.clone()))
    .bind(column(|e| e.principal.role.clone()))
    .bind(column(|e| e.principal.device.clone()))
    .bind(column(|e| e.principal.address.clone()))
    .bind(entries.iter().map(|e| e.action.clone()).collect::<Vec<_>>())
    .bind(column(|e| e.target.clone()))
    .bind(entries.iter().map(|e| e.change.to_string()).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// A row as admins read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The account's id.
    pub actor: Option<String>,
    pub actor_role: Option<String>,
    pub device_id: Option<String>,
    /// The client's address.
    pub address: Option<String>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
}

/// Newest first: `actor` narrows to one account, `since` to later changes.
pub async fn read(
    db: impl PgExecutor<'_>,
    actor: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, event_id, occurred_at, actor, actor_role, device_id, address, action, target, change::text \
         FROM audit_log WHERE ($1::text IS NULL OR actor = $1) AND ($2::timestamptz IS NULL OR occurred_at >= $2) \
         ORDER BY occurred_at DESC, id DESC LIMIT $3",
    )
    .bind(actor)
    .bind(since)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(AuditRow::into_record).collect())
}

/// A row as read: its change as JSON text.
#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
    actor: Option<String>,
    actor_role: Option<String>,
    device_id: Option<String>,
    address: Option<String>,
    action: String,
    target: Option<String>,
    change: String,
}

impl AuditRow {
    fn into_record(self) -> AuditRecord {
        AuditRecord {
            id: self.id,
            event_id: self.event_id,
            occurred_at: self.occurred_at,
            actor: self.actor,
            actor_role: self.actor_role,
            device_id: self.device_id,
            address: self.address,
            action: self.action,
            target: self.target,
            change: serde_json::from_str(&self.change).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The entry for an applied command: its kind, what it names, and its
/// fields (secrets left out).
pub fn of_command(envelope: &crate::wire::Envelope<crate::wire::Command>) -> AuditEntry {
    let mut change = serde_json::to_value(&envelope.body).unwrap_or(serde_json::Value::Null);
    if let Some(data) = change
        .get_mut("data")
        .and_then(serde_json::Value::as_object_mut)
    {
        // Anything that stands for a secret: hashes of passwords, keys and
        // refresh tokens, and a mailed link's nonce.
        for secret in [
            "password_hash",
            "key_hash",
            "refresh_hash",
            "presented_hash",
            "next_hash",
            "nonce",
            "password_version",
        ] {
            data.remove(secret);
        }
    }
    AuditEntry {
        event_id: envelope.event_id,
        part: String::new(),
        occurred_at: envelope.occurred_at,
        principal: envelope.principal.clone(),
        action: envelope.body.kind().to_owned(),
        target: Some(envelope.body.shard_key().into_owned()),
        change,
    }
}
