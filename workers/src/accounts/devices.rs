//! Device commands, applied in the package window's transaction: register a
//! device for a courier, replace its key, revoke it. Ingest remembers keys
//! between requests; the consumer tells every ingest to forget them after a
//! window changed any (see `Invalidator::auth_changed`).

use super::{refusal, reply_only_rejection};
use crate::outcome::Outcome;
use shared::auth::policy::Action;
use shared::auth::DeviceView;
use shared::wire::{
    AccountOutcome, Command, Envelope, RegisterDevice, RejectReason, RevokeDevice, RotateDeviceKey,
};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn register(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RegisterDevice,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageDevices) {
        return Ok(refused);
    }
    let courier_role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(command.courier_id)
        .fetch_optional(&mut *tx)
        .await?;
    if courier_role.as_deref() != Some("courier") {
        return Ok(reply_only_rejection(
            RejectReason::Invalid,
            &format!(
                "courier_id {} is not a courier's account",
                command.courier_id
            ),
        ));
    }
    if let Some(taken) = unique_id_taken(tx, command).await? {
        return Ok(taken);
    }
    let created_by = super::account_of(envelope);
    // A redelivery finds its own row. A client's retry (same
    // Idempotency-Key) brings a new key, made for the answer it will get:
    // that one is kept, unless the key was rotated or revoked since.
    sqlx::query(
        "INSERT INTO devices (id, name, courier_id, key_hash, created_by, created_at, unique_id_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET key_hash = EXCLUDED.key_hash, \
             unique_id_hash = EXCLUDED.unique_id_hash \
         WHERE devices.rotated_at IS NULL AND devices.revoked_at IS NULL",
    )
    .bind(command.device_id)
    .bind(command.name.as_str())
    .bind(command.courier_id)
    .bind(&command.key_hash)
    .bind(created_by)
    .bind(envelope.occurred_at)
    .bind(&command.unique_id_hash)
    .execute(&mut *tx)
    .await?;
    loaded(tx, command.device_id).await
}

/// A refusal when another device has the identifier (a redelivery finds
/// its own device, which does not count).
async fn unique_id_taken(
    tx: &mut PgConnection,
    command: &RegisterDevice,
) -> Result<Option<Outcome>, sqlx::Error> {
    let Some(hash) = &command.unique_id_hash else {
        return Ok(None);
    };
    let other: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM devices WHERE unique_id_hash = $1 AND id <> $2")
            .bind(hash)
            .bind(command.device_id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(other.map(|_| {
        reply_only_rejection(
            RejectReason::Conflict,
            "another device is registered with this unique_id",
        )
    }))
}

pub async fn rotate(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RotateDeviceKey,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageDevices) {
        return Ok(refused);
    }
    // A rotation older than the key in place (a redelivered or re-driven
    // message) must not bring an old key back.
    let updated = sqlx::query(
        "UPDATE devices SET key_hash = $2, rotated_at = $3 \
         WHERE id = $1 AND revoked_at IS NULL AND (rotated_at IS NULL OR rotated_at < $3)",
    )
    .bind(command.device_id)
    .bind(&command.key_hash)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(match DeviceView::load(&mut *tx, command.device_id).await? {
            Some(device) if device.revoked_at.is_some() => reply_only_rejection(
                RejectReason::Conflict,
                "a revoked device cannot get a new key",
            ),
            Some(device) => super::outcome(AccountOutcome::DeviceChanged(device)),
            None => not_found(command.device_id),
        });
    }
    loaded(tx, command.device_id).await
}

pub async fn revoke(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RevokeDevice,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageDevices) {
        return Ok(refused);
    }
    // Revoking twice keeps the first time.
    // The OsmAnd identifier is freed: the same tracker may be registered again.
    sqlx::query(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2), unique_id_hash = NULL WHERE id = $1",
    )
        .bind(command.device_id)
        .bind(envelope.occurred_at)
        .execute(&mut *tx)
        .await?;
    loaded(tx, command.device_id).await
}

async fn loaded(tx: &mut PgConnection, id: Uuid) -> Result<Outcome, sqlx::Error> {
    Ok(match DeviceView::load(&mut *tx, id).await? {
        Some(view) => super::outcome(AccountOutcome::DeviceChanged(view)),
        None => not_found(id),
    })
}

fn not_found(id: Uuid) -> Outcome {
    reply_only_rejection(RejectReason::NotFound, &format!("device {id} not found"))
}
