//! Arrival estimates in the location pool. Each window's courier fixes
//! follow the courier along its run: its leg teaches road factors and
//! service times ([`shared::arrivals::legs`]), and every remaining stop
//! with a destination gets a fresh estimate; one that moved by more than a
//! minute is stored on the package and announced (`eta_changed`), one past
//! the promise warns (`delivery_at_risk`). The late sweep ([`late`])
//! announces promises that passed undelivered (`delivery_late`).
//!
//! - [`runs`]: the couriers' remaining stops; [`state`]: legs and cells;
//! - [`routing`]: road distances from `ROUTING_URL`, when set;
//! - the pure core, one courier's fixes into decisions, is
//!   [`shared::arrivals::follow`] (the replay harness runs it too).
//!
//! A window is followed in one transaction, after its points are stored
//! and in the order windows began (as zones are): a crash in between
//! redelivers the window, which is then followed; a window followed
//! already teaches and announces nothing new (its fixes are not newer),
//! but the notices it decided are read back by their fix and announced
//! again.

pub mod late;
pub mod routing;
mod runs;
mod state;

use crate::geofences::notify::{self, Draft};
use shared::arrivals::{CellKey, Learned};
use shared::couriers::{CourierFix, CourierMoved};
use shared::packages::notices::PackageNotice;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// The notice kinds arrivals decide.
pub const ARRIVAL_KINDS: [&str; 3] = ["eta_changed", "delivery_at_risk", "delivery_late"];

/// What a window's courier fixes came to.
#[derive(Default)]
pub struct ArrivalNotices {
    pub packages: Vec<PackageNotice>,
    /// Packages whose view changed (a new estimate), with their version.
    pub changed: Vec<(String, i64)>,
}

pub struct Arrivals {
    pub pool: PgPool,
    /// Road distances for the legs, when `ROUTING_URL` is set.
    pub routing: Option<routing::Routing>,
}

impl Arrivals {
    pub async fn apply(&self, moved: &[&CourierMoved]) -> Result<ArrivalNotices, sqlx::Error> {
        let mut couriers: Vec<Uuid> = moved
            .iter()
            .filter(|m| !m.points.is_empty())
            .map(|m| m.courier_id)
            .collect();
        couriers.sort_unstable();
        couriers.dedup();
        if couriers.is_empty() {
            return Ok(ArrivalNotices::default());
        }
        let mut tx = self.pool.begin().await?;
        // Most couriers' fixes have no run to follow: no lock for them.
        let first = runs::remaining(&mut tx, &couriers).await?;
        if first.is_empty() {
            tx.rollback().await?;
            return Ok(ArrivalNotices::default());
        }
        let on_run: Vec<Uuid> = first.keys().copied().collect();
        let mut legs = state::lock_legs(&mut tx, &on_run).await?;
        // The run's packages next, in id order (as the package pool locks
        // them), then read again under the locks: a promise changed or a
        // parcel delivered meanwhile is seen, not overwritten.
        let packages: Vec<Uuid> = first.values().flatten().map(|s| s.package_id).collect();
        runs::lock_packages(&mut tx, &packages).await?;
        let runs = runs::remaining(&mut tx, &on_run).await?;
        let points = fixes_of(moved, &on_run);
        let changed = follow_all(&mut tx, moved, &runs, &mut legs, self.routing.as_ref()).await?;
        state::store_legs(&mut tx, &legs).await?;
        tx.commit().await?;
        let (packages, _) = notify::decided_by(&self.pool, &points, &ARRIVAL_KINDS).await?;
        Ok(ArrivalNotices { packages, changed })
    }
}

/// Follows each courier on a run with its window's fixes, and writes what
/// that decided; returns the packages whose view changed.
async fn follow_all(
    tx: &mut PgConnection,
    moved: &[&CourierMoved],
    runs: &HashMap<Uuid, Vec<shared::arrivals::RunStop>>,
    legs: &mut HashMap<Uuid, shared::arrivals::Leg>,
    routing: Option<&routing::Routing>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    // A courier's fixes may come in several batches: oldest first, together.
    let mut fixes: HashMap<Uuid, Vec<CourierFix>> = HashMap::new();
    for m in moved {
        fixes
            .entry(m.courier_id)
            .or_default()
            .extend(m.points.iter().cloned());
    }
    for points in fixes.values_mut() {
        points.sort_by_key(|p| p.recorded_at);
    }
    let here: Vec<CellKey> = fixes
        .values()
        .filter_map(|points| points.last())
        .map(|fix| CellKey::of(&fix.coordinates))
        .collect();
    let learned = state::learned(tx, &here).await?;
    let routed = match routing {
        Some(routing) => routed(routing, &fixes, runs, legs).await,
        None => HashMap::new(),
    };
    let mut taught: HashMap<CellKey, Learned> = HashMap::new();
    let mut writes = Writes::default();
    for (courier, points) in &fixes {
        let (Some(run), Some(leg)) = (runs.get(courier), legs.get_mut(courier)) else {
            continue;
        };
        let road = routed.get(courier).map(Vec::as_slice).unwrap_or_default();
        let followed = shared::arrivals::follow(leg, points, run, road, |cell| {
            learned.get(cell).copied().unwrap_or_default()
        });
        for sample in &followed.samples {
            let cell = match sample {
                shared::arrivals::Sample::Road { cell, .. }
                | shared::arrivals::Sample::Service { cell, .. } => cell,
            };
            taught.entry(cell.clone()).or_default().add(sample);
        }
        writes.add(&followed);
    }
    state::learn(tx, &taught).await?;
    writes.store(tx).await
}

/// What the routing service says of each courier's legs from its newest
/// new fix through its stops (a few couriers asked at once).
async fn routed(
    routing: &routing::Routing,
    fixes: &HashMap<Uuid, Vec<CourierFix>>,
    runs: &HashMap<Uuid, Vec<shared::arrivals::RunStop>>,
    legs: &HashMap<Uuid, shared::arrivals::Leg>,
) -> HashMap<Uuid, Vec<f64>> {
    use futures_util::StreamExt;
    // Owned first: the futures then borrow nothing but the client.
    let asks: Vec<(
        Uuid,
        shared::domain::Coordinates,
        Vec<shared::domain::Coordinates>,
    )> = fixes
        .iter()
        .filter_map(|(courier, points)| {
            let newest = shared::arrivals::follow::newest_new(legs.get(courier)?, points)?;
            let stops = runs
                .get(courier)?
                .iter()
                .filter_map(|s| s.destination)
                .collect();
            Some((*courier, newest.coordinates, stops))
        })
        .collect();
    futures_util::stream::iter(asks)
        .map(|(courier, from, stops)| async move {
            let road = routing.legs(from, &stops).await?;
            Some((courier, road))
        })
        .buffer_unordered(8)
        .filter_map(|answer| async move { answer })
        .collect()
        .await
}

/// The estimates and flags to store, and the notices to number.
#[derive(Default)]
struct Writes {
    packages: Vec<Uuid>,
    etas: Vec<Option<sqlx::types::Json<shared::notices::Eta>>>,
    at_risk: Vec<bool>,
    drafts: Vec<Draft>,
}

impl Writes {
    fn add(&mut self, followed: &shared::arrivals::Followed) {
        let (Some(point_id), Some(occurred_at)) = (followed.from_fix, followed.occurred_at) else {
            return;
        };
        for (package_id, decision) in &followed.decisions {
            self.packages.push(*package_id);
            self.etas.push(decision.now.eta.map(sqlx::types::Json));
            self.at_risk.push(decision.now.at_risk);
            for notice in &decision.notices {
                let name = format!("{package_id}:{}", notice.kind());
                self.drafts.push(Draft {
                    package_id: *package_id,
                    event_id: Uuid::new_v5(&point_id, name.as_bytes()),
                    point_id,
                    occurred_at,
                    notice: notice.clone(),
                });
            }
        }
    }

    /// Stores the estimates and flags, and numbers the notices.
    async fn store(self, tx: &mut PgConnection) -> Result<Vec<(String, i64)>, sqlx::Error> {
        if self.packages.is_empty() {
            return Ok(Vec::new());
        }
        // Locked already, unless a stop joined the run since the first read.
        runs::lock_packages(tx, &self.packages).await?;
        sqlx::query(
            "UPDATE packages p SET eta = v.eta, at_risk = v.at_risk \
             FROM UNNEST($1::uuid[], $2::jsonb[], $3::bool[]) AS v(id, eta, at_risk) \
             WHERE p.id = v.id AND p.status = 'out_for_delivery'",
        )
        .bind(&self.packages)
        .bind(&self.etas)
        .bind(&self.at_risk)
        .execute(&mut *tx)
        .await?;
        notify::record_packages(tx, &self.drafts).await
    }
}

/// The ids of the fixes of these couriers (their notices are read back).
fn fixes_of(moved: &[&CourierMoved], couriers: &[Uuid]) -> Vec<Uuid> {
    moved
        .iter()
        .filter(|m| couriers.contains(&m.courier_id))
        .flat_map(|m| m.points.iter().map(|p| p.point_id))
        .collect()
}
