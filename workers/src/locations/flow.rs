//! The location pool's handler: a window of point batches is screened
//! (may each poster post for each package?), numbered and announced (one
//! event per package, [`super::announce`]), stored merged, and becomes
//! [`Effects`]: notices, courier events, cache invalidations for packages
//! the notices changed, points for unknown packages sent back to wait, dead
//! letters.

use super::announce::Announced;
use super::{AppliedPoints, LocationError, LocationStore};
use crate::locations::projection::ProjectionNudge;
use crate::publisher::{Abandoned, Message};
use crate::runner::isolate::Applied;
use crate::runner::messages::applied_in_trace;
use crate::runner::{Effects, Flow, Runner};
use lapin::message::Delivery;
use shared::backoff::RetryError;
use shared::couriers::{CourierEvent, CourierPoint};
use shared::wire::{Envelope, LocationBatch, LocationPoint, PackageEvent};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

pub struct LocationFlow {
    pub pool: PgPool,
    pub store: LocationStore,
    /// Told when a window moved packages, so MongoDB's latest positions follow.
    pub projection: ProjectionNudge,
    /// How long points for an unknown package are retried before they are
    /// dead-lettered (their package's create may still be on its way).
    pub unknown_package_retry: Duration,
    /// Each stored window's fixes against the zones near them.
    pub geofencing: crate::geofences::Geofencing,
    /// Each stored window's courier fixes along their runs.
    pub arrivals: crate::arrivals::Arrivals,
}

impl Flow for LocationFlow {
    const POOL: &'static str = "locations";
    /// Windows in flight: PostgreSQL numbers (and the broker announces) the
    /// next while MongoDB stores the last ones, so a point waits on no
    /// earlier window's history (order does not matter here).
    const PARALLEL: usize = 2;

    async fn handle(
        &self,
        runner: &Runner,
        queue: &str,
        window: &[Delivery],
    ) -> Result<Effects, Abandoned> {
        let mut effects = Effects::default();
        // Taken first: the window's zones are evaluated after every
        // window that began before it ([`crate::geofences::order`]).
        let turn = self.geofencing.order.take();
        let batches: Vec<(&Delivery, Envelope<LocationBatch>)> =
            runner.decode_all(Self::POOL, queue, window, &mut effects.messages);
        let screened = self
            .screen(runner, queue, &batches, &mut effects.messages)
            .await?;
        // Each message is one unit for isolation: if the merged window fails
        // for good, each is tried alone and only the culprit is dead-lettered.
        let units: Vec<&Envelope<LocationBatch>> = screened.iter().map(AsRef::as_ref).collect();
        let announced = Announced::default();
        let applied = runner
            .apply_isolating(
                Self::POOL,
                &units,
                |batch| self.apply_points(runner, batch, &turn, &announced),
                |e: &LocationError| e.is_transient(),
            )
            .await?;
        for ((delivery, batch), result) in batches.iter().zip(applied) {
            match result {
                Applied::Done(unit) => self.settled(runner, delivery, batch, unit, &mut effects),
                Applied::Failed(reason) => effects
                    .messages
                    .push(runner.dead_letter(queue, delivery, &reason)),
            }
        }
        Ok(effects)
    }
}

impl LocationFlow {
    /// What one stored message adds to the window's effects.
    fn settled(
        &self,
        runner: &Runner,
        delivery: &Delivery,
        batch: &Envelope<LocationBatch>,
        unit: PointsUnit,
        effects: &mut Effects,
    ) {
        runner.metrics.applied(Self::POOL, batch.occurred_at);
        applied_in_trace(&batch.trace).in_scope(|| {
            tracing::debug!(
                event_id = %batch.event_id,
                points = batch.body.points.len(),
                "location points stored"
            )
        });
        effects.invalidations.extend(unit.changed);
        for notice in unit.notices {
            let event = batch.with_body(PackageEvent::Notice(notice));
            match runner.event_message(&event) {
                Ok(message) => effects.messages.push(message),
                Err(error) => tracing::error!(%error, "cannot encode a notice"),
            }
        }
        for event in unit.courier_events {
            match runner.courier_event_message(&batch.with_body(event)) {
                Ok(message) => effects.messages.push(message),
                Err(error) => tracing::error!(%error, "cannot encode a courier event"),
            }
        }
        if !unit.unknown.is_empty() {
            let waiting = self.unknown_points(runner, delivery, batch, unit.unknown);
            effects.messages.push(waiting);
        }
    }

    /// Asks the policy about every point's poster. A message with points its
    /// posters may not post is dead-lettered with the reason (a re-drive
    /// screens it again), and only its other points go on.
    async fn screen<'w>(
        &self,
        runner: &Runner,
        queue: &str,
        batches: &'w [(&Delivery, Envelope<LocationBatch>)],
        messages: &mut Vec<Message>,
    ) -> Result<Vec<std::borrow::Cow<'w, Envelope<LocationBatch>>>, Abandoned> {
        let units: Vec<&Envelope<LocationBatch>> = batches.iter().map(|(_, b)| b).collect();
        let refused = match runner
            .with_retry(
                (Self::POOL, units.len()),
                || refused_in(&self.pool, &units),
                crate::packages::is_transient,
            )
            .await
        {
            Ok(refused) => refused,
            Err(RetryError::Cancelled) => return Err(Abandoned),
            // Closed, not open: the dead-letter queue keeps the points.
            Err(RetryError::Permanent(error)) => {
                tracing::error!(%error, "cannot check who posted the points; dead-lettering them");
                units
                    .iter()
                    .map(|b| {
                        let reports = b.body.courier_points.iter().map(|p| p.point_id);
                        b.body
                            .points
                            .iter()
                            .map(|p| p.point_id)
                            .chain(reports)
                            .collect()
                    })
                    .collect()
            }
        };
        let screened = batches.iter().zip(refused);
        Ok(screened
            .map(|((delivery, batch), refused)| {
                if refused.is_empty() {
                    return std::borrow::Cow::Borrowed(batch);
                }
                let (allowed, reason) = without_refused(batch, &refused);
                tracing::warn!(%reason, "points refused by the policy");
                messages.push(runner.dead_letter(queue, delivery, &reason));
                std::borrow::Cow::Owned(allowed)
            })
            .collect())
    }

    /// Applies a window's location batches merged, and splits the result back
    /// per batch (notices and moves are reported once, with the first batch).
    /// The points are announced as soon as they are numbered ([`super::announce`]).
    async fn apply_points(
        &self,
        runner: &Runner,
        batches: &[&Envelope<LocationBatch>],
        turn: &crate::geofences::order::Turn<'_>,
        announced: &Announced,
    ) -> Result<Vec<PointsUnit>, LocationError> {
        let points: Vec<&LocationPoint> = batches.iter().flat_map(|b| &b.body.points).collect();
        let reports: Vec<&CourierPoint> = batches
            .iter()
            .flat_map(|b| &b.body.courier_points)
            .collect();
        let applied = self
            .store_points(runner, batches, &points, announced)
            .await?;
        let mut courier_events = super::couriers::apply(&self.pool, &self.store, &reports)
            .await?
            .events;
        // After the points are stored: a crash in between redelivers the
        // window, whose fixes are then evaluated.
        turn.wait().await;
        let derived = self.derived(&applied, &courier_events).await?;
        courier_events.extend(derived.couriers.into_iter().map(CourierEvent::Geofence));
        let metrics = &runner.metrics;
        metrics.stored(Self::POOL, "postgres", applied.postgres_took);
        metrics.stored(Self::POOL, "mongodb", applied.mongodb_took);
        if !applied.moved.is_empty() {
            self.projection.nudge();
        }
        // After the points are stored, before the window is acked: a crash in
        // between redelivers the window, and the trail gets its rows then.
        let trail = super::audit::entries(batches, &applied.unknown);
        shared::audit::record(&self.pool, &trail).await?;
        let mut units: Vec<PointsUnit> = batches
            .iter()
            .map(|batch| PointsUnit {
                notices: Vec::new(),
                courier_events: Vec::new(),
                changed: Vec::new(),
                unknown: batch
                    .body
                    .points
                    .iter()
                    .filter(|p| applied.unknown.contains(&p.point_id))
                    .cloned()
                    .collect(),
            })
            .collect();
        if let Some(first) = units.first_mut() {
            // The moved packages were invalidated with the announcement.
            first.changed = derived.changed;
            first.courier_events = std::mem::take(&mut courier_events);
            first.notices = derived.packages;
        }
        Ok(units)
    }

    /// Numbers the window's points, announces them, then writes their history.
    async fn store_points(
        &self,
        runner: &Runner,
        batches: &[&Envelope<LocationBatch>],
        points: &[&LocationPoint],
        announced: &Announced,
    ) -> Result<AppliedPoints, LocationError> {
        let (Some(first), false) = (batches.first(), points.is_empty()) else {
            return Ok(AppliedPoints::default());
        };
        let numbered = super::number(&self.pool, points).await?;
        announced.announce(runner, first, &numbered.applied).await?;
        numbered.store(&self.store).await
    }

    /// Points whose package is unknown: back through the delay line while
    /// their package may still be on its way, then dead-lettered with why.
    fn unknown_points(
        &self,
        runner: &Runner,
        delivery: &Delivery,
        batch: &Envelope<LocationBatch>,
        points: Vec<LocationPoint>,
    ) -> Message {
        let age = (chrono::Utc::now() - batch.occurred_at)
            .to_std()
            .unwrap_or_default();
        let mut numbers: Vec<&str> = points.iter().map(|p| p.tracking_number.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let numbers = numbers.join(", ");
        // The posters travel with their points, for the audit trail.
        let waiting = batch.with_body(LocationBatch {
            points,
            sources: batch.body.sources.clone(),
            // Stored already: only the package points wait.
            courier_points: Vec::new(),
        });
        let mut message = match runner.location_message(&waiting) {
            Ok(message) => message,
            Err(error) => {
                return runner.dead_letter(
                    &runner.topology.locations_queue(),
                    delivery,
                    &error.to_string(),
                )
            }
        };
        if age < self.unknown_package_retry {
            tracing::debug!(%numbers, ?age, "points for unknown packages wait for them");
            message.exchange = String::new();
            message.routing_key = runner.topology.location_retry_queue();
            return message;
        }
        let reason = format!(
            "unknown tracking number(s) after {}s: {numbers}",
            self.unknown_package_retry.as_secs()
        );
        tracing::warn!(%reason, "dead-lettering location points");
        crate::dead_letter::to_dead_letter(
            message,
            &runner.topology.dead_exchange(),
            &runner.topology.locations_queue(),
            &reason,
        )
    }
}

/// For each batch, the ids of its package points and courier reports its
/// posters may not post.
async fn refused_in(
    pool: &PgPool,
    batches: &[&Envelope<LocationBatch>],
) -> Result<Vec<HashSet<Uuid>>, sqlx::Error> {
    let mut refused = super::screening::refused_points(pool, batches).await?;
    let reports = super::couriers::screening::refused_reports(pool, batches).await?;
    for (points, reports) in refused.iter_mut().zip(reports) {
        points.extend(reports);
    }
    Ok(refused)
}

/// What one location message came to.
/// Its point events are not here: they were announced once numbered.
struct PointsUnit {
    /// Zone notices of packages, numbered after the points.
    notices: Vec<shared::packages::notices::PackageNotice>,
    courier_events: Vec<CourierEvent>,
    /// Packages whose view the notices changed.
    changed: Vec<(String, i64)>,
    unknown: Vec<LocationPoint>,
}

/// The batch without its refused points, and why they were refused.
fn without_refused(
    batch: &Envelope<LocationBatch>,
    refused: &HashSet<Uuid>,
) -> (Envelope<LocationBatch>, String) {
    let (refused_reports, allowed_reports): (Vec<&CourierPoint>, Vec<&CourierPoint>) = batch
        .body
        .courier_points
        .iter()
        .partition(|p| refused.contains(&p.point_id));
    let (refused_points, allowed): (Vec<&LocationPoint>, Vec<&LocationPoint>) = batch
        .body
        .points
        .iter()
        .partition(|p| refused.contains(&p.point_id));
    let mut numbers: Vec<&str> = refused_points
        .iter()
        .map(|p| p.tracking_number.as_str())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut couriers: Vec<String> = refused_reports
        .iter()
        .map(|p| p.courier_id.to_string())
        .collect();
    couriers.sort_unstable();
    couriers.dedup();
    let reason = match (numbers.is_empty(), couriers.is_empty()) {
        (false, true) => format!(
            "forbidden: the poster may not post locations for {}",
            numbers.join(", ")
        ),
        (true, _) => format!(
            "forbidden: the poster may not report for courier {}",
            couriers.join(", ")
        ),
        (false, false) => format!(
            "forbidden: the poster may not post locations for {} nor report for courier {}",
            numbers.join(", "),
            couriers.join(", ")
        ),
    };
    let allowed = batch.with_body(LocationBatch {
        points: allowed.into_iter().cloned().collect(),
        sources: batch.body.sources.clone(),
        courier_points: allowed_reports.into_iter().cloned().collect(),
    });
    (allowed, reason)
}
