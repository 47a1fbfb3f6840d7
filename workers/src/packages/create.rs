use super::Applied;
use shared::domain::{BoundedText, PackageStatus, PackageView};
use shared::wire::{Command, CreatePackage, Envelope, Event, PackageCreated, RejectReason};
use sqlx::PgConnection;

pub async fn apply(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &CreatePackage,
) -> Result<Applied, sqlx::Error> {
    let insert = format!(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, \
             recipient_address, status, weight, description, version, event_seq, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, 1, 1, $9, $9) \
         ON CONFLICT (tracking_number) DO NOTHING RETURNING {}",
        PackageView::COLUMNS
    );
    let created: Option<PackageView> = sqlx::query_as(&insert)
        .bind(command.package_id)
        .bind(command.tracking_number.as_str())
        .bind(command.sender_name.as_str())
        .bind(command.sender_address.as_str())
        .bind(command.recipient_name.as_str())
        .bind(command.recipient_address.as_str())
        .bind(command.weight)
        .bind(command.description.as_ref().map(BoundedText::as_str))
        .bind(envelope.occurred_at)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(package) = created else {
        return Ok(Applied {
            event: Event::CommandRejected {
                tracking_number: command.tracking_number.clone(),
                reason: RejectReason::Conflict,
                message: format!("tracking number {} already exists", command.tracking_number),
            },
            changed: false,
        });
    };
    sqlx::query(
        "INSERT INTO status_events (event_id, package_id, status, previous_status, version, seq, principal, occurred_at) \
         VALUES ($1, $2, $3, NULL, 1, 1, $4, $5)",
    )
    .bind(envelope.event_id)
    .bind(package.id)
    .bind(PackageStatus::Pending.as_str())
    .bind(envelope.principal.subject.as_deref())
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(Applied {
        event: Event::PackageCreated(PackageCreated { package }),
        changed: true,
    })
}
