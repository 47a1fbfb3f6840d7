//! Rebuilding the outcome of a command that was already applied.

use shared::domain::{Coordinates, PackageStatus, TrackingNumber};
use shared::packages::PackageView;
use shared::wire::{Event, PackageCreated, PackageEvent, PlanChanged, StatusChanged};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

pub async fn replay(tx: &mut PgConnection, event_id: Uuid) -> Result<Option<Event>, sqlx::Error> {
    if let Some(plan) = plan_replay(tx, event_id).await? {
        return Ok(Some(plan));
    }
    let sql = format!(
        "SELECT se.previous_status, se.status AS event_status, se.location AS event_location, \
                se.latitude AS event_latitude, se.longitude AS event_longitude, se.version AS event_version, \
                COALESCE(se.seq, se.version) AS status_event_seq, \
                se.occurred_at AS event_occurred_at, {} \
         FROM status_events se JOIN packages p ON p.id = se.package_id WHERE se.event_id = $1",
        prefixed_columns("p")
    );
    let Some(row) = sqlx::query(&sql)
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let package = <PackageView as sqlx::FromRow<_>>::from_row(&row)?;
    let previous: Option<String> = row.try_get("previous_status")?;
    let Some(previous) = previous else {
        return Ok(Some(
            PackageEvent::PackageCreated(PackageCreated { package }).into(),
        ));
    };
    let status: String = row.try_get("event_status")?;
    let latitude: Option<f64> = row.try_get("event_latitude")?;
    let longitude: Option<f64> = row.try_get("event_longitude")?;
    Ok(Some(Event::Package(PackageEvent::StatusChanged(
        StatusChanged {
            package_id: package.id,
            tracking_number: decode_column(TrackingNumber::parse(&package.tracking_number))?,
            previous: decode_column(previous.parse::<PackageStatus>())?,
            status: decode_column(status.parse::<PackageStatus>())?,
            location: row.try_get("event_location")?,
            coordinates: match (latitude, longitude) {
                (Some(lat), Some(lon)) => Some(decode_column(Coordinates::new(lat, lon))?),
                _ => None,
            },
            version: row.try_get("event_version")?,
            seq: row.try_get("status_event_seq")?,
            changed_at: row.try_get("event_occurred_at")?,
        },
    ))))
}

/// The outcome of a plan change applied before, if `event_id` was one.
async fn plan_replay(tx: &mut PgConnection, event_id: Uuid) -> Result<Option<Event>, sqlx::Error> {
    type Row = (
        String,
        Option<sqlx::types::Json<Coordinates>>,
        Option<chrono::DateTime<chrono::Utc>>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.tracking_number, e.destination, e.promised_by, e.version \
         FROM plan_events e JOIN packages p ON p.id = e.package_id WHERE e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tracking_number, destination, promised_by, version)) = row else {
        return Ok(None);
    };
    Ok(Some(Event::Package(PackageEvent::PlanChanged(
        PlanChanged {
            tracking_number: decode_column(TrackingNumber::parse(&tracking_number))?,
            destination: destination.map(|d| d.0),
            promised_by,
            version,
        },
    ))))
}

fn decode_column<T, E: std::error::Error + Send + Sync + 'static>(
    result: Result<T, E>,
) -> Result<T, sqlx::Error> {
    result.map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// `PackageView::COLUMNS` qualified with a table alias.
pub fn prefixed_columns(alias: &str) -> String {
    PackageView::COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
