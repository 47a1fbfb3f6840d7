//! The policy asked again before points are stored: each point's poster (its
//! batch's source, or the batch's principal for points the pipeline forwards
//! itself) must be allowed to post locations for that package. Ingest asked
//! the same question; a point refused here came from a replayed or re-driven
//! message, or from a courier whose run ended in between.

use shared::auth::access::ACTIVE_DELIVERY;
use shared::auth::policy::{self, Action};
use shared::auth::{Caller, Role};
use shared::wire::{Envelope, LocationBatch, LocationPoint};
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

/// For each batch, the ids of the points its posters may not post.
pub async fn refused_points(
    pool: &PgPool,
    batches: &[&Envelope<LocationBatch>],
) -> Result<Vec<HashSet<Uuid>>, sqlx::Error> {
    let poster = |batch: &Envelope<LocationBatch>, point: &LocationPoint| {
        let principal = batch.body.source_of(point).unwrap_or(&batch.principal);
        Caller::from_principal(principal)
            .filter(|caller| policy::role_may(caller.role, Action::PostLocations))
    };
    // Couriers reach only the packages of their runs: one query for the window.
    let mut couriers: Vec<Uuid> = Vec::new();
    let mut numbers: Vec<&str> = Vec::new();
    for batch in batches {
        for point in &batch.body.points {
            if let Some(caller) = poster(batch, point).filter(|c| c.role == Role::Courier) {
                couriers.push(caller.user_id);
                numbers.push(point.tracking_number.as_str());
            }
        }
    }
    let carried: HashSet<(Uuid, String)> = if couriers.is_empty() {
        HashSet::new()
    } else {
        couriers.sort_unstable();
        couriers.dedup();
        numbers.sort_unstable();
        numbers.dedup();
        sqlx::query_as::<_, (Uuid, String)>(&format!(
            "SELECT DISTINCT d.courier_id, p.tracking_number FROM deliveries d \
             JOIN delivery_stops s ON s.delivery_id = d.id JOIN packages p ON p.id = s.package_id \
             WHERE d.courier_id = ANY($1) AND p.tracking_number = ANY($2) AND {ACTIVE_DELIVERY}"
        ))
        .bind(&couriers)
        .bind(&numbers)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect()
    };
    Ok(batches
        .iter()
        .map(|batch| {
            batch
                .body
                .points
                .iter()
                .filter(|point| match poster(batch, point) {
                    None => true,
                    Some(caller) if policy::sees_all(caller.role) => false,
                    Some(caller) => !carried
                        .contains(&(caller.user_id, point.tracking_number.as_str().to_owned())),
                })
                .map(|point| point.point_id)
                .collect()
        })
        .collect())
}
