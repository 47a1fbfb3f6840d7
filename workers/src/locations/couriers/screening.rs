//! The policy asked again before courier reports are stored: a report is
//! its poster's own (the courier, or a device bound to them), the
//! courier's account is an enabled courier's, and the device is not
//! revoked. Ingest asked the same; a report refused here came from a
//! replayed or re-driven message, or from a device revoked in between.

use shared::auth::Caller;
use shared::auth::Role;
use shared::couriers::CourierPoint;
use shared::wire::{Envelope, LocationBatch};
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

/// For each batch, the ids of the courier reports that may not be stored.
pub async fn refused_reports(
    pool: &PgPool,
    batches: &[&Envelope<LocationBatch>],
) -> Result<Vec<HashSet<Uuid>>, sqlx::Error> {
    let poster = |batch: &Envelope<LocationBatch>, point: &CourierPoint| {
        let principal = batch
            .body
            .source_of_report(point)
            .unwrap_or(&batch.principal);
        Caller::from_principal(principal).filter(|caller| {
            caller.role == Role::Courier
                && caller.user_id == point.courier_id
                && caller.device_id == point.device_id
        })
    };
    let reports = || batches.iter().flat_map(|b| &b.body.courier_points);
    if reports().next().is_none() {
        return Ok(vec![HashSet::new(); batches.len()]);
    }
    let couriers: Vec<Uuid> = reports().map(|p| p.courier_id).collect();
    let devices: Vec<Uuid> = reports().filter_map(|p| p.device_id).collect();
    let (live_couriers, live_devices) = live(pool, &couriers, &devices).await?;
    Ok(batches
        .iter()
        .map(|batch| {
            batch
                .body
                .courier_points
                .iter()
                .filter(|point| {
                    let allowed = poster(batch, point).is_some()
                        && live_couriers.contains(&point.courier_id)
                        && point
                            .device_id
                            .is_none_or(|d| live_devices.contains(&(d, point.courier_id)));
                    !allowed
                })
                .map(|point| point.point_id)
                .collect()
        })
        .collect())
}

/// Of these, the enabled couriers, and the unrevoked devices with their courier.
async fn live(
    pool: &PgPool,
    couriers: &[Uuid],
    devices: &[Uuid],
) -> Result<(HashSet<Uuid>, HashSet<(Uuid, Uuid)>), sqlx::Error> {
    let live_couriers: HashSet<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE id = ANY($1) AND role = 'courier' AND disabled_at IS NULL",
    )
    .bind(couriers)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    if devices.is_empty() {
        return Ok((live_couriers, HashSet::new()));
    }
    let live_devices = sqlx::query_as::<_, (Uuid, Uuid)>(
        "SELECT id, courier_id FROM devices WHERE id = ANY($1) AND revoked_at IS NULL",
    )
    .bind(devices)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    Ok((live_couriers, live_devices))
}
