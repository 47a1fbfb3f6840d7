use super::Applied;
use shared::domain::{BoundedText, PackageStatus};
use shared::wire::{Command, Envelope, Event, RejectReason, StatusChanged, UpdateStatus};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

pub async fn apply(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UpdateStatus,
) -> Result<Applied, sqlx::Error> {
    // FOR UPDATE: shards already serialise one package's commands; the row lock
    // keeps that true if two consumers ever overlap (e.g. during a failover).
    let row = sqlx::query("SELECT id, status FROM packages WHERE tracking_number = $1 FOR UPDATE")
        .bind(command.tracking_number.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(rejected(
            command,
            RejectReason::NotFound,
            format!("package {} not found", command.tracking_number),
        ));
    };
    let package_id: Uuid = row.try_get("id")?;
    let current: String = row.try_get("status")?;
    let current: PackageStatus = current
        .parse()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    if let Err(refused) = current.transition(command.status) {
        return Ok(rejected(
            command,
            RejectReason::Conflict,
            refused.to_string(),
        ));
    }

    let (latitude, longitude) = match command.coordinates {
        Some(c) => (Some(c.latitude()), Some(c.longitude())),
        None => (None, None),
    };
    let location = command.location.as_ref().map(BoundedText::as_str);
    // The latest position only moves forward in time: a status update carrying
    // coordinates older than the stored position keeps the status change but
    // not the position.
    let (version, seq): (i64, i64) = sqlx::query_as(
        "UPDATE packages SET status = $2, current_location = COALESCE($3, current_location), \
             latitude = CASE WHEN $4::float8 IS NOT NULL AND (last_seen_at IS NULL OR last_seen_at <= $6) THEN $4 ELSE latitude END, \
             longitude = CASE WHEN $5::float8 IS NOT NULL AND (last_seen_at IS NULL OR last_seen_at <= $6) THEN $5 ELSE longitude END, \
             last_seen_at = CASE WHEN $4::float8 IS NOT NULL AND (last_seen_at IS NULL OR last_seen_at <= $6) THEN $6 ELSE last_seen_at END, \
             version = version + 1, event_seq = event_seq + 1, updated_at = GREATEST(updated_at, $6) \
         WHERE id = $1 RETURNING version, event_seq",
    )
    .bind(package_id)
    .bind(command.status.as_str())
    .bind(location)
    .bind(latitude)
    .bind(longitude)
    .bind(envelope.occurred_at)
    .fetch_one(&mut *tx)
    .await?;

    sqlx::query(
        "INSERT INTO status_events (event_id, package_id, status, previous_status, location, latitude, longitude, \
             version, seq, principal, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11, $9, $10)",
    )
    .bind(envelope.event_id)
    .bind(package_id)
    .bind(command.status.as_str())
    .bind(current.as_str())
    .bind(location)
    .bind(latitude)
    .bind(longitude)
    .bind(version)
    .bind(envelope.principal.subject.as_deref())
    .bind(envelope.occurred_at)
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    super::number_event(tx, package_id, seq, envelope.event_id, "status_changed").await?;

    Ok(Applied {
        event: Event::StatusChanged(StatusChanged {
            package_id,
            tracking_number: command.tracking_number.clone(),
            previous: current,
            status: command.status,
            location: location.map(str::to_owned),
            coordinates: command.coordinates,
            version,
            seq,
            changed_at: envelope.occurred_at,
        }),
        changed: true,
    })
}

fn rejected(command: &UpdateStatus, reason: RejectReason, message: String) -> Applied {
    Applied {
        event: Event::CommandRejected {
            tracking_number: command.tracking_number.clone(),
            reason,
            message,
        },
        changed: false,
    }
}
