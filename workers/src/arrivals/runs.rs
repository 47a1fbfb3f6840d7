//! The remaining stops of couriers' runs: packages out for delivery on an
//! active delivery of theirs, in the run's order, with what their
//! watchers were last told.

use shared::arrivals::{Announced, RunStop};
use shared::domain::Coordinates;
use shared::notices::Eta;
use sqlx::types::Json;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

type Row = (
    Uuid,
    Uuid,
    Option<Json<Coordinates>>,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<Json<Eta>>,
    bool,
);

/// By courier, the stops each has still to make, in order (a package on
/// two of a courier's runs counts at its first).
pub async fn remaining(
    tx: &mut PgConnection,
    couriers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<RunStop>>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT d.courier_id, p.id, p.destination, p.promised_by, p.eta, p.at_risk \
         FROM deliveries d JOIN delivery_stops s ON s.delivery_id = d.id \
         JOIN packages p ON p.id = s.package_id \
         WHERE d.courier_id = ANY($1) AND {} AND p.status = 'out_for_delivery' \
         ORDER BY d.courier_id, d.day, d.created_at, d.id, s.position",
        shared::auth::access::ACTIVE_DELIVERY
    ))
    .bind(couriers)
    .fetch_all(&mut *tx)
    .await?;
    let mut runs: HashMap<Uuid, Vec<RunStop>> = HashMap::new();
    let mut seen = HashSet::new();
    for (courier, package_id, destination, promised_by, eta, at_risk) in rows {
        if !seen.insert((courier, package_id)) {
            continue;
        }
        runs.entry(courier).or_default().push(RunStop {
            package_id,
            destination: destination.map(|d| d.0),
            announced: Announced {
                eta: eta.map(|e| e.0),
                promised_by,
                at_risk,
            },
        });
    }
    Ok(runs)
}

/// Locks these packages in id order (as the package pool does, so the two
/// never wait on each other in a cycle).
pub async fn lock_packages(tx: &mut PgConnection, packages: &[Uuid]) -> Result<(), sqlx::Error> {
    if packages.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM packages WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(packages)
        .execute(&mut *tx)
        .await
        .map(drop)
}
