//! Delivery commands, applied in the package window's transaction: a
//! dispatcher's run of stops for a courier, reassigned, reordered or
//! completed. A courier's rights over a package come from these rows.

use super::refusal;
use crate::outcome::Outcome;
use shared::auth::policy::Action;
use shared::auth::DeliveryView;
use shared::domain::TrackingNumber;
use shared::wire::{
    AccountOutcome, Command, CreateDelivery, Envelope, RejectReason, UpdateDelivery,
};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn create(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &CreateDelivery,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageDeliveries) {
        return Ok(refused);
    }
    // A redelivered create finds the row it made.
    if let Some(view) = DeliveryView::load(&mut *tx, command.delivery_id).await? {
        return Ok(changed(view));
    }
    if let Some(problem) = not_a_courier(tx, command.courier_id).await? {
        return Ok(invalid(problem));
    }
    let packages = match resolve(tx, &command.stops).await? {
        Ok(packages) => packages,
        Err(problem) => return Ok(invalid(problem)),
    };
    let created_by = super::account_of(envelope);
    sqlx::query(
        "INSERT INTO deliveries (id, courier_id, day, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'assigned', $4, $5, $5)",
    )
    .bind(command.delivery_id)
    .bind(command.courier_id)
    .bind(command.day)
    .bind(created_by)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    write_stops(tx, command.delivery_id, &packages).await?;
    loaded(tx, command.delivery_id).await
}

pub async fn update(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UpdateDelivery,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageDeliveries) {
        return Ok(refused);
    }
    if let Some(answer) = unchangeable(tx, envelope, command).await? {
        return Ok(answer);
    }
    let id = command.delivery_id;
    if let Some(courier_id) = command.courier_id {
        if let Some(problem) = not_a_courier(tx, courier_id).await? {
            return Ok(invalid(problem));
        }
        sqlx::query("UPDATE deliveries SET courier_id = $2 WHERE id = $1")
            .bind(id)
            .bind(courier_id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(stops) = &command.stops {
        if let Err(problem) = replace_stops(tx, id, stops).await? {
            return Ok(invalid(problem));
        }
    }
    sqlx::query(
        "UPDATE deliveries SET updated_at = GREATEST(updated_at, $2), \
             status = CASE WHEN $3 THEN 'completed' ELSE status END, \
             completed_at = CASE WHEN $3 THEN $2 ELSE completed_at END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(envelope.occurred_at)
    .bind(command.complete)
    .execute(&mut *tx)
    .await?;
    loaded(tx, id).await
}

/// The answer to a change the delivery cannot take (locked for the rest of
/// the window): none, a stale change, a change to a completed one; `None`
/// when it can.
async fn unchangeable(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UpdateDelivery,
) -> Result<Option<Outcome>, sqlx::Error> {
    let id = command.delivery_id;
    let row: Option<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT status, updated_at FROM deliveries WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, updated_at)) = row else {
        return Ok(Some(super::reply_only_rejection(
            RejectReason::NotFound,
            &format!("delivery {id} not found"),
        )));
    };
    let changes_more_than_completion = command.courier_id.is_some() || command.stops.is_some();
    // A change older than the delivery's last one (replayed from the
    // broker or re-driven from the dead letters) must not undo it, say by
    // handing the route back to a courier it was taken from. Its own
    // redelivery has the same time and applies again, to the same effect.
    if changes_more_than_completion && updated_at > envelope.occurred_at {
        return Ok(Some(super::reply_only_rejection(
            RejectReason::Conflict,
            "the delivery changed after this request; load it and try again",
        )));
    }
    if status != "completed" {
        return Ok(None);
    }
    // Completing again is a retry and answers as the first did.
    Ok(Some(if changes_more_than_completion {
        super::reply_only_rejection(RejectReason::Conflict, "a completed delivery cannot change")
    } else {
        loaded(tx, id).await?
    }))
}

/// The run's stops replaced by `stops`, or why they cannot be.
async fn replace_stops(
    tx: &mut PgConnection,
    id: Uuid,
    stops: &[TrackingNumber],
) -> Result<Result<(), String>, sqlx::Error> {
    let packages = match resolve(tx, stops).await? {
        Ok(packages) => packages,
        Err(problem) => return Ok(Err(problem)),
    };
    sqlx::query("DELETE FROM delivery_stops WHERE delivery_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    write_stops(tx, id, &packages).await?;
    Ok(Ok(()))
}

/// Why `id` cannot carry a delivery, if it cannot.
async fn not_a_courier(tx: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(match role.as_deref() {
        Some("courier") => None,
        Some(_) => Some(format!("courier_id {id} is not a courier's account")),
        None => Some(format!("courier_id {id} names no account")),
    })
}

/// The package ids of the stops, in order; or which tracking numbers name
/// no package.
async fn resolve(
    tx: &mut PgConnection,
    stops: &[TrackingNumber],
) -> Result<Result<Vec<Uuid>, String>, sqlx::Error> {
    let numbers: Vec<&str> = stops.iter().map(TrackingNumber::as_str).collect();
    let found: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT tracking_number, id FROM packages WHERE tracking_number = ANY($1)")
            .bind(&numbers)
            .fetch_all(&mut *tx)
            .await?;
    let id_of = |tn: &str| found.iter().find(|(n, _)| n == tn).map(|(_, id)| *id);
    let missing: Vec<&str> = numbers
        .iter()
        .copied()
        .filter(|tn| id_of(tn).is_none())
        .collect();
    if !missing.is_empty() {
        return Ok(Err(format!("no such package: {}", missing.join(", "))));
    }
    Ok(Ok(numbers.iter().filter_map(|tn| id_of(tn)).collect()))
}

async fn write_stops(
    tx: &mut PgConnection,
    id: Uuid,
    packages: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO delivery_stops (delivery_id, position, package_id) \
         SELECT $1, ordinality::int, package_id FROM UNNEST($2::uuid[]) WITH ORDINALITY AS s(package_id, ordinality)",
    )
    .bind(id)
    .bind(packages)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn loaded(tx: &mut PgConnection, id: Uuid) -> Result<Outcome, sqlx::Error> {
    match DeliveryView::load(&mut *tx, id).await? {
        Some(view) => Ok(changed(view)),
        None => Err(sqlx::Error::RowNotFound),
    }
}

fn changed(view: DeliveryView) -> Outcome {
    super::outcome(AccountOutcome::DeliveryChanged(view))
}

fn invalid(problem: String) -> Outcome {
    super::reply_only_rejection(RejectReason::Invalid, &problem)
}
