//! The package pool's handler: a shard's window of commands becomes
//! [`Effects`] — replies, events, mail requests, forwarded points, cache
//! invalidations and dead letters — for the runner to settle.

use super::{apply_window, Outcome};
use crate::publisher::{Abandoned, Message};
use crate::runner::isolate::Applied;
use crate::runner::messages::applied_in_trace;
use crate::runner::{Effects, Flow, Reply, Runner};
use lapin::message::Delivery;
use shared::wire::{
    AccountOutcome, Command, Envelope, Event, LocationBatch, LocationPoint, PackageEvent,
    StatusChanged,
};
use sqlx::PgPool;

pub struct PackageFlow {
    pub pool: PgPool,
    /// Zone commands ride the package shards but are written to MongoDB.
    pub zones: crate::geofences::ZoneWriter,
}

impl Flow for PackageFlow {
    const POOL: &'static str = "packages";
    /// A shard's commands are applied in queue order, one window at a time:
    /// that is what keeps a package's commands ordered.
    const PARALLEL: usize = 1;

    async fn handle(
        &self,
        runner: &Runner,
        queue: &str,
        window: &[Delivery],
    ) -> Result<Effects, Abandoned> {
        let mut effects = Effects::default();
        let commands: Vec<(&Delivery, Envelope<Command>)> =
            runner.decode_all(Self::POOL, queue, window, &mut effects.messages);
        let (zone_commands, commands): (Vec<_>, Vec<_>) = commands
            .into_iter()
            .partition(|(_, c)| c.body.is_geofence());
        self.apply_zones(runner, queue, &zone_commands, &mut effects)
            .await?;
        let envelopes: Vec<&Envelope<Command>> = commands.iter().map(|(_, e)| e).collect();
        let outcomes = runner
            .apply_isolating(
                Self::POOL,
                &envelopes,
                |batch| async move {
                    let started = std::time::Instant::now();
                    let applied = apply_window(&self.pool, batch).await;
                    runner
                        .metrics
                        .stored(Self::POOL, "postgres", started.elapsed());
                    applied
                },
                |e| e.is_transient(),
            )
            .await?;
        let mut forwarded = Forwarded::default();
        for ((delivery, command), outcome) in commands.iter().zip(outcomes) {
            match outcome {
                Applied::Done(outcome) => settled(
                    runner,
                    delivery,
                    command,
                    outcome,
                    &mut effects,
                    &mut forwarded,
                ),
                Applied::Failed(reason) => effects
                    .messages
                    .push(runner.dead_letter(queue, delivery, &reason)),
            }
        }
        if let Some(message) = forwarded.message(runner, commands.first().map(|(_, c)| c)) {
            effects.messages.push(message);
        }
        self.stamp_wal_position(&mut effects).await;
        Ok(effects)
    }
}

impl PackageFlow {
    /// Applies a window's zone commands in order, beside its package window.
    async fn apply_zones(
        &self,
        runner: &Runner,
        queue: &str,
        commands: &[(&Delivery, Envelope<Command>)],
        effects: &mut Effects,
    ) -> Result<(), Abandoned> {
        let envelopes: Vec<&Envelope<Command>> = commands.iter().map(|(_, e)| e).collect();
        let outcomes = runner
            .apply_isolating(
                Self::POOL,
                &envelopes,
                |batch| self.zones.apply_all(batch),
                |e: &crate::geofences::writes::ZoneWriteError| e.is_transient(),
            )
            .await?;
        let mut unused = Forwarded::default();
        for ((delivery, command), outcome) in commands.iter().zip(outcomes) {
            match outcome {
                Applied::Done(outcome) => {
                    settled(runner, delivery, command, outcome, effects, &mut unused)
                }
                Applied::Failed(reason) => effects
                    .messages
                    .push(runner.dead_letter(queue, delivery, &reason)),
            }
        }
        Ok(())
    }

    /// Puts the primary's WAL position, read after the window's commit, on
    /// every reply: a requester's reads may use a read replica once it has
    /// replayed that far. Unknown when the read fails (its reads then go to
    /// the primary for a while).
    async fn stamp_wal_position(&self, effects: &mut Effects) {
        if effects.replies.is_empty() {
            return;
        }
        let position = shared::replica::wal_position(&self.pool).await.ok();
        for reply in &mut effects.replies {
            reply.event.wal_position = position;
        }
    }
}

/// What one applied command adds to the window's effects.
fn settled(
    runner: &Runner,
    delivery: &Delivery,
    command: &Envelope<Command>,
    outcome: Outcome,
    effects: &mut Effects,
    forwarded: &mut Forwarded,
) {
    let Outcome {
        event,
        changed_version,
        carried_off,
    } = outcome;
    effects.invalidations.extend(carried_off);
    runner
        .metrics
        .applied(PackageFlow::POOL, command.occurred_at);
    applied_in_trace(&command.trace).in_scope(|| {
        tracing::debug!(
            event_id = %command.event_id,
            kind = command.body.kind(),
            outcome = event.kind(),
            "command applied"
        )
    });
    if let (Some(version), Some(tn)) = (changed_version, command.body.tracking_number()) {
        effects
            .invalidations
            .push((tn.as_str().to_owned(), version));
    }
    if let Event::Package(PackageEvent::StatusChanged(changed)) = &event {
        forwarded.add(command, changed);
    }
    effects.auth_changed |= matches!(
        event,
        Event::Account(AccountOutcome::DeliveryChanged(_))
            | Event::Account(AccountOutcome::DeviceChanged(_))
    );
    effects.accounts_changed.extend(event.changed_account());
    if let Some(mail) = crate::mail::request_for(&event) {
        match runner.mail_message(&command.with_body(mail)) {
            Ok(message) => effects.messages.push(message),
            Err(error) => tracing::error!(%error, "cannot encode a mail request"),
        }
    }
    if let Some(watched) = event.for_watchers() {
        match runner.event_message(&command.with_body(watched.clone())) {
            Ok(message) => effects.messages.push(message),
            Err(error) => tracing::error!(%error, "cannot encode an event"),
        }
    }
    effects
        .replies
        .extend(Reply::to(delivery, command.with_body(event)));
}

/// Coordinates on a status update also belong in the location history: sent
/// through the location pool as idempotent points, each naming its
/// command's principal (the location pool screens and audits them by it).
#[derive(Default)]
struct Forwarded(LocationBatch);

impl Forwarded {
    fn add(&mut self, command: &Envelope<Command>, changed: &StatusChanged) {
        let Some(mut point) = forwarded_point(command, changed) else {
            return;
        };
        let sources = &mut self.0.sources;
        let source = match sources.iter().position(|s| *s == command.principal) {
            Some(index) => index,
            None => {
                sources.push(command.principal.clone());
                sources.len() - 1
            }
        };
        point.source = u16::try_from(source).ok();
        self.0.points.push(point);
    }

    /// One message for the window's forwarded points, if any.
    fn message(self, runner: &Runner, first: Option<&Envelope<Command>>) -> Option<Message> {
        let first = first.filter(|_| !self.0.points.is_empty())?;
        match runner.location_message(&first.with_body(self.0)) {
            Ok(message) => Some(message),
            Err(error) => {
                tracing::error!(%error, "cannot encode forwarded points");
                None
            }
        }
    }
}

/// The location point a status update with coordinates also records; its id
/// comes from the command, so a redelivered update forwards the same point.
fn forwarded_point(command: &Envelope<Command>, changed: &StatusChanged) -> Option<LocationPoint> {
    let coordinates = changed.coordinates?;
    let Command::UpdateStatus(update) = &command.body else {
        return None;
    };
    Some(LocationPoint {
        point_id: uuid::Uuid::new_v5(&command.event_id, b"location"),
        tracking_number: changed.tracking_number.clone(),
        coordinates,
        address: update.location.clone(),
        measurements: shared::locations::Measurements::default(),
        recorded_at: changed.changed_at,
        received_at: changed.changed_at,
        source: None,
    })
}
