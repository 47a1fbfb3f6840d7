//! Couriers' runs (deliveries and their stops) as the API shows them, and
//! the reads of `deliveries` outside the workers.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A courier's run for a day: packages to visit, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub courier_id: Option<Uuid>,
    pub day: Option<NaiveDate>,
    /// `assigned` while the courier is on it, `completed` after.
    pub status: String,
    pub stops: Vec<StopView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stop: where in the run, which package, and the package's status now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StopView {
    pub position: i32,
    pub tracking_number: String,
    pub status: String,
}

/// Which deliveries a listing returns.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub courier_id: Option<Uuid>,
    pub day: Option<NaiveDate>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    courier_id: Option<Uuid>,
    day: Option<NaiveDate>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    stops: String,
}

/// A delivery with its stops in one query (stops aggregated as JSON).
const SELECT: &str = "SELECT d.id, d.courier_id, d.day, d.status, d.created_at, d.updated_at, \
    COALESCE((SELECT json_agg(json_build_object('position', s.position, 'tracking_number', p.tracking_number, \
                                                'status', p.status) ORDER BY s.position) \
              FROM delivery_stops s JOIN packages p ON p.id = s.package_id WHERE s.delivery_id = d.id), '[]')::text AS stops \
    FROM deliveries d";

impl DeliveryRow {
    fn into_view(self) -> Result<DeliveryView, sqlx::Error> {
        Ok(DeliveryView {
            id: self.id,
            courier_id: self.courier_id,
            day: self.day,
            status: self.status,
            stops: serde_json::from_str(&self.stops)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl DeliveryView {
    pub async fn load(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Self>, sqlx::Error> {
        let row: Option<DeliveryRow> = sqlx::query_as(&format!("{SELECT} WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?;
        row.map(DeliveryRow::into_view).transpose()
    }

    /// Newest day first.
    pub async fn list(
        db: impl PgExecutor<'_>,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Self>, sqlx::Error> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "{SELECT} WHERE ($1::uuid IS NULL OR d.courier_id = $1) AND ($2::date IS NULL OR d.day = $2) \
             ORDER BY d.day DESC NULLS LAST, d.created_at DESC LIMIT $3"
        ))
        .bind(filter.courier_id)
        .bind(filter.day)
        .bind(filter.limit)
        .fetch_all(db)
        .await?;
        rows.into_iter().map(DeliveryRow::into_view).collect()
    }
}

/// The tracking numbers of a courier's active deliveries: what they (and
/// their devices) may post locations for.
pub async fn carried_by(
    db: impl PgExecutor<'_>,
    courier_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT p.tracking_number FROM deliveries d \
         JOIN delivery_stops s ON s.delivery_id = d.id JOIN packages p ON p.id = s.package_id \
         WHERE d.courier_id = $1 AND {}",
        super::access::ACTIVE_DELIVERY
    ))
    .bind(courier_id)
    .fetch_all(db)
    .await
}
