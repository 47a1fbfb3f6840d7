//! Package commands: each applied in one PostgreSQL transaction that writes the
//! package row and its `status_events` row together.
//!
//! Idempotency: the command's event id is unique in `status_events`. A command
//! seen before is not applied again; its recorded outcome is rebuilt instead.

mod create;
mod history;
mod update_status;

use shared::wire::{Command, Envelope, Event};
use sqlx::PgPool;

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub event: Event,
    /// False for rejections and replays: nothing changed, nothing to invalidate.
    pub changed: bool,
}

pub async fn apply(pool: &PgPool, envelope: &Envelope<Command>) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(event) = history::replay(&mut tx, envelope.event_id).await? {
        tx.rollback().await?;
        return Ok(Applied {
            event,
            changed: false,
        });
    }
    let applied = match &envelope.body {
        Command::CreatePackage(command) => create::apply(&mut tx, envelope, command).await?,
        Command::UpdateStatus(command) => update_status::apply(&mut tx, envelope, command).await?,
    };
    if applied.changed {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(applied)
}

/// Records which number in the package's event sequence an event got.
async fn number_event(
    tx: &mut sqlx::PgConnection,
    package_id: uuid::Uuid,
    seq: i64,
    event_id: uuid::Uuid,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO package_events (package_id, seq, event_id, kind) VALUES ($1, $2, $3, $4)",
    )
    .bind(package_id)
    .bind(seq)
    .bind(event_id)
    .bind(kind)
    .execute(tx)
    .await
    .map(drop)
}

/// Whether a database error may go away by itself or never will.
///
/// Only errors that the command itself causes are permanent: data exceptions
/// (class 22), constraint violations (class 23) and values that cannot be
/// decoded. Everything else (connection refused or lost, a database not
/// accepting connections, a server restarting, serialization conflicts, a pool
/// timeout) is retried, because dead-lettering a valid command during an outage
/// would lose an accepted write.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            !(code.starts_with("22") || code.starts_with("23"))
        }
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::RowNotFound
        | sqlx::Error::Encode(_) => false,
        _ => true,
    }
}
