//! Which courier each package follows: while it is `in_transit` or
//! `out_for_delivery` on a courier's active run, it rides with that
//! courier (the newest such run if several). The package pool settles it
//! in the window's transaction for every package whose status or run
//! changed: the open stretch in `package_carriage` is closed when the
//! courier changes or the package leaves the road, a new one opened, and
//! `packages.carrier_id` names the courier now. A package that leaves a
//! courier keeps where it was last carried: the courier's latest fix of
//! the stretch becomes its own position then (one write per package per
//! hand-over, never per point).

use shared::auth::access::ACTIVE_DELIVERY;
use shared::couriers::Riding;
use shared::wire::{Command, Envelope};
use sqlx::{PgConnection, PgExecutor};
use std::collections::HashMap;
use uuid::Uuid;

/// The deliveries the window's commands create or change.
pub fn deliveries_of(commands: &[&Envelope<Command>]) -> Vec<Uuid> {
    commands
        .iter()
        .filter_map(|c| match &c.body {
            Command::CreateDelivery(d) => Some(d.delivery_id),
            Command::UpdateDelivery(d) => Some(d.delivery_id),
            _ => None,
        })
        .collect()
}

/// The packages these deliveries stop at now (before the window's changes
/// when called first, after them when called again).
pub async fn stops_of(
    tx: &mut PgConnection,
    deliveries: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT DISTINCT package_id FROM delivery_stops WHERE delivery_id = ANY($1)")
        .bind(deliveries)
        .fetch_all(&mut *tx)
        .await
}

/// Settles the carriage of these packages (one statement, and one more to
/// lock those of them the transaction does not hold yet; none when the
/// list is empty). `held` tells the packages the transaction locked
/// already. Returns the packages whose position it changed (they left a
/// courier, taking the courier's last fix), with their new version: their
/// cached views must go.
pub async fn settle(
    tx: &mut PgConnection,
    packages: &[Uuid],
    held: impl Fn(&Uuid) -> bool,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    // A status change (the package's shard) and a run's change (the run's
    // shard) may commit side by side: locking the packages first, then
    // settling in a new statement (a new snapshot), sees the other's
    // committed change, so neither leaves a stretch unopened or doubled.
    // A package the window locked when it loaded it is held already: the
    // other side waits for this transaction there, as it would here.
    let unheld: Vec<Uuid> = packages.iter().copied().filter(|id| !held(id)).collect();
    if !unheld.is_empty() {
        sqlx::query("SELECT id FROM packages WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&unheld)
            .execute(&mut *tx)
            .await?;
    }
    let sql = settle_statement();
    let rows: Vec<(String, i64, bool)> = sqlx::query_as(&sql)
        .bind(packages)
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, moved)| *moved)
        .map(|(tn, version, _)| (tn, version))
        .collect())
}

/// The settling statement: every CTE sees the rows as they were before
/// the statement, so the open stretch is closed and the next opened in one
/// step.
fn settle_statement() -> String {
    format!(
        "WITH target AS ( \
            SELECT p.id AS package_id, \
                CASE WHEN p.status IN ('in_transit', 'out_for_delivery') THEN ( \
                    SELECT d.courier_id FROM delivery_stops s JOIN deliveries d ON d.id = s.delivery_id \
                    WHERE s.package_id = p.id AND d.courier_id IS NOT NULL AND {ACTIVE_DELIVERY} \
                    ORDER BY d.day DESC, d.updated_at DESC, d.id LIMIT 1) END AS courier_id \
            FROM packages p WHERE p.id = ANY($1) \
        ), closed AS ( \
            UPDATE package_carriage c SET until_at = now() FROM target t \
            WHERE c.package_id = t.package_id AND c.until_at IS NULL \
              AND c.courier_id IS DISTINCT FROM t.courier_id \
            RETURNING c.package_id \
        ), opened AS ( \
            INSERT INTO package_carriage (package_id, courier_id, since_at) \
            SELECT t.package_id, t.courier_id, now() FROM target t \
            WHERE t.courier_id IS NOT NULL AND NOT EXISTS ( \
                SELECT 1 FROM package_carriage c WHERE c.package_id = t.package_id \
                  AND c.until_at IS NULL AND c.courier_id = t.courier_id) \
            RETURNING package_id \
        ) \
        UPDATE packages p SET carrier_id = t.courier_id, \
            latitude = CASE WHEN f.newer THEN f.latitude ELSE p.latitude END, \
            longitude = CASE WHEN f.newer THEN f.longitude ELSE p.longitude END, \
            last_seen_at = CASE WHEN f.newer THEN f.recorded_at ELSE p.last_seen_at END, \
            version = CASE WHEN f.newer THEN p.version + 1 ELSE p.version END \
        FROM target t LEFT JOIN LATERAL ( \
            SELECT c.latitude, c.longitude, c.recorded_at, \
                c.recorded_at > COALESCE(q.last_seen_at, '-infinity') AS newer \
            FROM package_carriage k JOIN courier_positions c ON c.courier_id = k.courier_id \
            JOIN packages q ON q.id = k.package_id \
            WHERE k.package_id = t.package_id AND k.until_at IS NULL \
              AND k.courier_id IS DISTINCT FROM t.courier_id \
              AND c.latitude IS NOT NULL AND c.recorded_at >= k.since_at \
        ) f ON true \
        WHERE p.id = t.package_id AND p.carrier_id IS DISTINCT FROM t.courier_id \
        RETURNING p.tracking_number, p.version, COALESCE(f.newer, false)"
    )
}

/// The packages aboard each of these couriers now.
pub async fn aboard(
    db: impl PgExecutor<'_>,
    couriers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Riding>>, sqlx::Error> {
    if couriers.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT c.courier_id, p.tracking_number, p.status, c.since_at FROM package_carriage c \
         JOIN packages p ON p.id = c.package_id \
         WHERE c.courier_id = ANY($1) AND c.until_at IS NULL ORDER BY p.tracking_number",
    )
    .bind(couriers)
    .fetch_all(db)
    .await?;
    let mut aboard: HashMap<Uuid, Vec<Riding>> = HashMap::new();
    for (courier, tracking_number, status, since_at) in rows {
        // A status this build does not know is shown to staff only.
        let public = status
            .parse()
            .is_ok_and(shared::packages::aboard::outsiders_see_courier);
        aboard.entry(courier).or_default().push(Riding {
            tracking_number,
            public,
            since_at,
        });
    }
    Ok(aboard)
}
