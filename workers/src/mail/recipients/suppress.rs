//! An address that used its unsubscribe link gets no more recipient mail.
//! Applied in the package window's transaction like the account commands;
//! ingest checked the link, and the seal proves ingest sent the command.

use crate::outcome::Outcome;
use shared::wire::{AccountOutcome, Command, Envelope, UnsubscribeRecipient};
use sqlx::PgConnection;

pub async fn apply(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UnsubscribeRecipient,
) -> Result<Outcome, sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_suppressions (email, since) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(command.email.as_str().to_ascii_lowercase())
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(Outcome::unchanged(AccountOutcome::Acknowledged))
}
