//! Couriers' own position reports, applied with the location window they
//! arrived in: a constant number of stored writes per window however many
//! packages ride aboard (one `courier_positions` statement, one history
//! insert), then one read of the packages aboard for the announcement.
//!
//! - [`positions`]: the PostgreSQL row per courier, moved forward;
//! - [`screening`]: the policy asked again for every report's poster;
//! - [`presence`]: the sweep that announces couriers going stale or offline.
//!
//! Which courier each package rides with is the package pool's
//! (`packages::carriage`). A package's position is never copied from its courier's: reads combine
//! them ([`shared::couriers::reads`], [`shared::couriers::stored`]).

mod positions;
pub mod presence;
pub mod screening;

use super::{LocationError, LocationStore};
use shared::couriers::stored::CourierHistoryDoc;
use shared::couriers::{CourierEvent, CourierFix, CourierMoved, CourierPoint, Presence};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// What applying a window's courier reports produced.
pub struct AppliedReports {
    /// Per courier: its fixes, the packages aboard; and presence changes.
    pub events: Vec<CourierEvent>,
}

/// Applies the reports (duplicates by id are stored once).
pub async fn apply(
    pool: &PgPool,
    store: &LocationStore,
    points: &[&CourierPoint],
) -> Result<AppliedReports, LocationError> {
    let mut seen = HashSet::with_capacity(points.len());
    let points: Vec<&CourierPoint> = points
        .iter()
        .copied()
        .filter(|p| seen.insert(p.point_id))
        .collect();
    if points.is_empty() {
        return Ok(AppliedReports { events: Vec::new() });
    }
    let advanced = positions::advance(pool, &points).await?;
    let documents: Vec<CourierHistoryDoc> = points
        .iter()
        .filter_map(|p| CourierHistoryDoc::new(p))
        .collect();
    super::history::insert_unordered(&store.courier_history, documents).await?;
    let couriers: Vec<Uuid> = advanced.iter().map(|a| a.courier_id).collect();
    let aboard = crate::packages::carriage::aboard(pool, &couriers).await?;
    Ok(AppliedReports {
        events: announced(&points, &advanced, aboard),
    })
}

/// One `moved` per courier with fixes in the window (oldest first, the one
/// that became the latest marked), and a `presence` event for each courier
/// that was not online before.
fn announced(
    points: &[&CourierPoint],
    advanced: &[positions::Advanced],
    mut aboard: HashMap<Uuid, Vec<shared::couriers::Riding>>,
) -> Vec<CourierEvent> {
    let latest: HashMap<Uuid, Option<Uuid>> = advanced
        .iter()
        .map(|a| (a.courier_id, a.point_id))
        .collect();
    let mut fixes: BTreeMap<Uuid, Vec<CourierFix>> = BTreeMap::new();
    for point in points {
        let Some(coordinates) = point.coordinates else {
            continue;
        };
        let is_latest = latest.get(&point.courier_id) == Some(&Some(point.point_id));
        fixes.entry(point.courier_id).or_default().push(CourierFix {
            point_id: point.point_id,
            coordinates,
            measurements: point.measurements,
            recorded_at: point.recorded_at,
            is_latest,
        });
    }
    let mut events: Vec<CourierEvent> = advanced
        .iter()
        .filter(|a| a.came_online)
        .map(|a| CourierEvent::PresenceChanged {
            courier_id: a.courier_id,
            presence: Presence::Online,
            heard_at: a.heard_at,
            battery_pct: a.battery_pct,
        })
        .collect();
    events.extend(fixes.into_iter().map(|(courier_id, mut points)| {
        points.sort_by_key(|p| (p.recorded_at, p.point_id));
        CourierEvent::Moved(CourierMoved {
            courier_id,
            points,
            packages: aboard.remove(&courier_id).unwrap_or_default(),
        })
    }));
    events
}
