//! Endpoint commands, applied in the package window's transaction like the
//! other account commands: register, change, delete, rotate the secret.
//! Each is its owner's alone: another account's endpoint answers as if it
//! did not exist. Every change bumps `webhook_revision`, so the fan-out
//! reloads its endpoints before the next event it matches.

use super::{account_of, outcome, refusal, reply_only_rejection};
use crate::outcome::Outcome;
use shared::auth::policy::Action;
use shared::webhooks::view::WebhookView;
use shared::webhooks::MAX_PER_ACCOUNT;
use shared::wire::{
    AccountOutcome, Command, CreateWebhook, DeleteWebhook, Envelope, Patch, RejectReason,
    RotateWebhookSecret, UpdateWebhook,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::days(1);

pub async fn create(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &CreateWebhook,
) -> Result<Outcome, sqlx::Error> {
    let owner = match permitted(envelope) {
        Ok(owner) => owner,
        Err(refused) => return Ok(*refused),
    };
    // Counted under a lock on the owner's row: two registrations at once
    // (on two shards) cannot both take the last place.
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    let others: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE owner_id = $1 AND id <> $2")
            .bind(owner)
            .bind(command.webhook_id)
            .fetch_one(&mut *tx)
            .await?;
    if others >= MAX_PER_ACCOUNT {
        return Ok(reply_only_rejection(
            RejectReason::Conflict,
            &format!("an account has at most {MAX_PER_ACCOUNT} webhooks"),
        ));
    }
    // A redelivery finds its own row.
    sqlx::query(
        "INSERT INTO webhooks (id, owner_id, url, kinds, tracking_numbers, description, \
             created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(command.webhook_id)
    .bind(owner)
    .bind(&command.url)
    .bind(&command.events)
    .bind(packages(command.packages.as_deref()))
    .bind(command.description.as_ref().map(|d| d.as_str()))
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    changed(tx, command.webhook_id).await
}

pub async fn update(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UpdateWebhook,
) -> Result<Outcome, sqlx::Error> {
    let owner = match permitted(envelope) {
        Ok(owner) => owner,
        Err(refused) => return Ok(*refused),
    };
    let Some(before) = owned(tx, owner, command.webhook_id).await? else {
        return Ok(not_found(command.webhook_id));
    };
    let packages = match &command.packages {
        Patch::Keep => before.packages.clone(),
        Patch::Clear => None,
        Patch::Set(list) => packages(Some(list)),
    };
    let description = match &command.description {
        Patch::Keep => before.description.clone(),
        Patch::Clear => None,
        Patch::Set(text) => Some(text.as_str().to_owned()),
    };
    let paused = command.paused.unwrap_or(before.paused);
    // Enabling (paused: false) also lifts a disable for failing: the owner
    // says the endpoint answers again.
    let enable = command.paused == Some(false);
    sqlx::query(
        "UPDATE webhooks SET url = $2, kinds = $3, tracking_numbers = $4, description = $5, \
             paused = $6, \
             disabled_at = CASE WHEN $7 THEN NULL ELSE disabled_at END, \
             failing_since = CASE WHEN $7 THEN NULL ELSE failing_since END, \
             updated_at = GREATEST(updated_at, $8) \
         WHERE id = $1",
    )
    .bind(command.webhook_id)
    .bind(command.url.as_ref().unwrap_or(&before.url))
    .bind(command.events.as_ref().unwrap_or(&before.events))
    .bind(packages)
    .bind(description)
    .bind(paused)
    .bind(enable)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    changed(tx, command.webhook_id).await
}

pub async fn delete(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &DeleteWebhook,
) -> Result<Outcome, sqlx::Error> {
    let owner = match permitted(envelope) {
        Ok(owner) => owner,
        Err(refused) => return Ok(*refused),
    };
    // Deleting twice (a redelivery) answers the same.
    sqlx::query("DELETE FROM webhooks WHERE id = $1 AND owner_id = $2")
        .bind(command.webhook_id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    bump_revision(tx).await?;
    Ok(outcome(AccountOutcome::WebhookDeleted {
        webhook_id: command.webhook_id,
    }))
}

pub async fn rotate(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RotateWebhookSecret,
) -> Result<Outcome, sqlx::Error> {
    let owner = match permitted(envelope) {
        Ok(owner) => owner,
        Err(refused) => return Ok(*refused),
    };
    if owned(tx, owner, command.webhook_id).await?.is_none() {
        return Ok(not_found(command.webhook_id));
    }
    // A redelivered rotation (not newer than the last) changes nothing.
    sqlx::query(
        "UPDATE webhooks SET secret_version = secret_version + 1, rotated_at = $2, \
             previous_secret_until = $3, updated_at = GREATEST(updated_at, $2) \
         WHERE id = $1 AND (rotated_at IS NULL OR rotated_at < $2)",
    )
    .bind(command.webhook_id)
    .bind(envelope.occurred_at)
    .bind(envelope.occurred_at + ROTATION_OVERLAP)
    .execute(&mut *tx)
    .await?;
    changed(tx, command.webhook_id).await
}

/// The principal's account, if it may manage webhooks.
fn permitted(envelope: &Envelope<Command>) -> Result<Uuid, Box<Outcome>> {
    if let Some(refused) = refusal(envelope, Action::ManageWebhooks) {
        return Err(Box::new(refused));
    }
    account_of(envelope).ok_or_else(|| {
        Box::new(reply_only_rejection(
            RejectReason::Forbidden,
            "webhooks belong to an account",
        ))
    })
}

async fn owned(
    tx: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<WebhookView>, sqlx::Error> {
    Ok(WebhookView::load(&mut *tx, id)
        .await?
        .filter(|webhook| webhook.owner_id == owner))
}

fn packages(list: Option<&[shared::domain::TrackingNumber]>) -> Option<Vec<String>> {
    list.map(|list| list.iter().map(|tn| tn.as_str().to_owned()).collect())
}

async fn changed(tx: &mut PgConnection, id: Uuid) -> Result<Outcome, sqlx::Error> {
    bump_revision(tx).await?;
    Ok(match WebhookView::load(&mut *tx, id).await? {
        Some(view) => outcome(AccountOutcome::WebhookChanged(view)),
        None => not_found(id),
    })
}

/// Tells the webhook pool its endpoints changed (also when an owner's
/// role or access did: its cached rights must not lag).
pub(crate) async fn bump_revision(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_revision SET revision = revision + 1")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn not_found(id: Uuid) -> Outcome {
    reply_only_rejection(RejectReason::NotFound, &format!("webhook {id} not found"))
}
