//! The per-queue loop: take a window → decode → apply → invalidate → publish
//! → reply → ack the window.
//!
//! A window is the first delivery plus every delivery that follows it within a
//! short linger (each next one may come up to [`Window::linger`] after the
//! last), up to a message and byte budget: under load one round of writes
//! carries many messages; when idle a window is one message and waits only
//! the linger. Every delivery of a window ends acked: applied, or
//! dead-lettered (confirmed first) when it can never succeed. The only other
//! end is [`Settlement::Abandon`] on shutdown or a lost connection: nothing
//! is acked and the broker redelivers the window, which changes nothing
//! (idempotent by event id).

use crate::dead_letter::dead_letter_message;
use crate::invalidator::Invalidator;
use crate::locations::projection::ProjectionNudge;
use crate::locations::{self, LocationStore};
use crate::metrics::WorkerMetrics;
use crate::packages::{self, Outcome};
use crate::publisher::{envelope_message, Abandoned, Message, Publisher};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::Consumer;
use shared::amqp::Routing;
use shared::backoff::{retry, Backoff, RetryError};
use shared::topology::Topology;
use shared::wire::{Command, Envelope, Event, LocationBatch, LocationPoint, StatusChanged};
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which pool a queue belongs to, and so how its messages are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Packages,
    Locations,
}

impl QueueKind {
    /// The `pool` label of its metrics.
    pub fn pool(self) -> &'static str {
        match self {
            Self::Packages => "packages",
            Self::Locations => "locations",
        }
    }
}

/// Everything a consumer needs to carry a window to its end, shared by the
/// consumers of one broker connection.
pub struct Pipeline {
    pub pool: PgPool,
    pub invalidator: Invalidator,
    pub locations: LocationStore,
    /// Told when a window moved packages, so MongoDB's latest positions follow.
    pub projection: ProjectionNudge,
    pub topology: Topology,
    /// Opens every message's seal before it is decoded; seals what is published.
    pub keys: shared::wire::SigningKeys,
    pub publisher: Publisher,
    /// How long points for an unknown package are retried before they are
    /// dead-lettered (their package's create may still be on its way).
    pub unknown_package_retry: Duration,
    /// Cancelled on shutdown or when a sibling consumer lost the connection.
    pub stop: CancellationToken,
    pub metrics: std::sync::Arc<WorkerMetrics>,
}

/// How a window ended.
#[derive(Debug, PartialEq, Eq)]
enum Settlement {
    /// Every delivery is done with (applied or dead-lettered): ack them all.
    Ack,
    /// Shutdown or a lost connection came first: ack nothing; closing the
    /// channel returns the deliveries to the queue.
    Abandon,
}

impl From<Abandoned> for Settlement {
    fn from(_: Abandoned) -> Self {
        Self::Abandon
    }
}

/// How big a window may grow, and how long it waits for more.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// At most this many messages (at most the channel's prefetch).
    pub max_messages: usize,
    /// At most about this many payload bytes.
    pub max_bytes: usize,
    /// How long to wait for one more delivery before the window closes.
    pub linger: Duration,
}

/// Consumes until shutdown (Ok) or until the channel fails (Err).
///
/// Package shards apply one window at a time, in queue order: that is what
/// keeps a package's commands ordered. The location queue has two windows in
/// flight, so PostgreSQL numbers the next while MongoDB stores the last
/// (order does not matter there). Windows are settled in the order they were
/// taken, so one multiple ack per window stays exact.
pub async fn consume(
    pipeline: &Pipeline,
    queue: &str,
    kind: QueueKind,
    mut consumer: Consumer,
    limits: Window,
) -> Result<(), lapin::Error> {
    let parallel = match kind {
        QueueKind::Packages => 1,
        QueueKind::Locations => 2,
    };
    // Unacked deliveries count against the prefetch: each window in flight
    // gets its share, or the first would hold them all and the second wait.
    let limits = Window {
        max_messages: (limits.max_messages / parallel).max(1),
        ..limits
    };
    let mut in_flight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
    let outcome = loop {
        tokio::select! {
            biased;
            _ = pipeline.stop.cancelled() => break Ok(()),
            Some((window, settlement)) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(error) = settle(pipeline, kind, &window, settlement).await {
                    break Err(error);
                }
            }
            first = consumer.next(), if in_flight.len() < parallel => {
                let window = match take_window(&mut consumer, first, limits).await {
                    Ok(window) => window,
                    Err(error) => break Err(error),
                };
                let metrics = &pipeline.metrics;
                metrics.consumed.with_label_values(&[kind.pool()]).inc_by(window.len() as u64);
                metrics.window.with_label_values(&[kind.pool()]).observe(window.len() as f64);
                in_flight.push_back(Box::pin(async move {
                    let settlement = match kind {
                        QueueKind::Packages => pipeline.handle_commands(queue, &window).await,
                        QueueKind::Locations => pipeline.handle_locations(queue, &window).await,
                    };
                    (window, settlement)
                }));
            }
        }
    };
    // What was started finishes (or abandons itself on shutdown) before the
    // channel closes, so nothing is half-acknowledged.
    while let Some((window, settlement)) = in_flight.next().await {
        if outcome.is_ok() && !pipeline.stop.is_cancelled() {
            settle(pipeline, kind, &window, settlement).await?;
        }
    }
    outcome
}

/// A window being applied, and what it came to.
type InFlight<'a> =
    std::pin::Pin<Box<dyn Future<Output = (Vec<Delivery>, Settlement)> + Send + 'a>>;

/// The first delivery and whatever follows within the linger, up to the limits.
async fn take_window(
    consumer: &mut Consumer,
    first: Option<lapin::Result<Delivery>>,
    limits: Window,
) -> lapin::Result<Vec<Delivery>> {
    let first = delivered(first)?;
    let mut bytes = first.data.len();
    let mut window = vec![first];
    while window.len() < limits.max_messages && bytes < limits.max_bytes {
        let next = match consumer.next().now_or_never() {
            Some(next) => next,
            None => match tokio::time::timeout(limits.linger, consumer.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
        };
        let next = delivered(next)?;
        bytes += next.data.len();
        window.push(next);
    }
    Ok(window)
}

/// Acks a window, or turns an abandoned one into the loop's end: Ok on
/// shutdown, an error (so the pool reconnects) when the broker link is gone.
async fn settle(
    pipeline: &Pipeline,
    kind: QueueKind,
    window: &[Delivery],
    settlement: Settlement,
) -> lapin::Result<()> {
    match settlement {
        Settlement::Ack => {
            ack_window(window).await?;
            pipeline
                .metrics
                .acked
                .with_label_values(&[kind.pool()])
                .inc_by(window.len() as u64);
            Ok(())
        }
        Settlement::Abandon if pipeline.stop.is_cancelled() => Ok(()),
        Settlement::Abandon => Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
            lapin::ChannelState::Error,
            "publishing connection lost",
        ))),
    }
}

fn delivered(next: Option<lapin::Result<Delivery>>) -> lapin::Result<Delivery> {
    next.unwrap_or_else(|| {
        Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
            lapin::ChannelState::Closed,
            "consumer ended",
        )))
    })
}

/// One ack for the whole window: deliveries on a channel are tagged in order,
/// and a consumer has one window in flight.
async fn ack_window(window: &[Delivery]) -> lapin::Result<()> {
    if let Some(last) = window.last() {
        last.ack(BasicAckOptions { multiple: true }).await?;
    }
    Ok(())
}

impl Pipeline {
    async fn handle_commands(&self, queue: &str, window: &[Delivery]) -> Settlement {
        let mut messages = Vec::new();
        let commands: Vec<(&Delivery, Envelope<Command>)> =
            self.decode_all(queue, window, &mut messages);
        let envelopes: Vec<&Envelope<Command>> = commands.iter().map(|(_, e)| e).collect();
        let pool = QueueKind::Packages.pool();
        let outcomes = match self
            .apply_isolating(
                pool,
                &envelopes,
                |batch| async move {
                    let started = std::time::Instant::now();
                    let applied = packages::apply_window(&self.pool, batch).await;
                    self.metrics
                        .store_seconds
                        .with_label_values(&[pool, "postgres"])
                        .observe(started.elapsed().as_secs_f64());
                    applied
                },
                |e| e.is_transient(),
            )
            .await
        {
            Ok(outcomes) => outcomes,
            Err(Abandoned) => return Settlement::Abandon,
        };
        let mut changes = Vec::new();
        // Forwarded points, each naming its command's principal (the
        // location pool screens and audits them by it).
        let mut forwarded = LocationBatch::default();
        let mut replies = Vec::new();
        let mut auth_changed = false;
        let mut accounts_changed = Vec::new();
        for ((delivery, command), outcome) in commands.iter().zip(outcomes) {
            let Outcome {
                event,
                changed_version,
            } = match outcome {
                Applied::Done(outcome) => outcome,
                Applied::Failed(reason) => {
                    messages.push(self.dead_letter(queue, delivery, &reason));
                    continue;
                }
            };
            self.metrics
                .lag
                .with_label_values(&[pool])
                .observe(shared::metrics::seconds_since(command.occurred_at));
            applied_in_trace(&command.trace).in_scope(|| {
                tracing::debug!(
                    event_id = %command.event_id,
                    kind = command.body.kind(),
                    outcome = event.kind(),
                    "command applied"
                )
            });
            if let (Some(version), Some(tn)) = (changed_version, command.body.tracking_number()) {
                changes.push((tn.as_str().to_owned(), version));
            }
            if let Event::StatusChanged(changed) = &event {
                if let Some(mut point) = forwarded_point(command, changed) {
                    let source = match forwarded
                        .sources
                        .iter()
                        .position(|s| *s == command.principal)
                    {
                        Some(index) => index,
                        None => {
                            forwarded.sources.push(command.principal.clone());
                            forwarded.sources.len() - 1
                        }
                    };
                    point.source = u16::try_from(source).ok();
                    forwarded.points.push(point);
                }
            }
            auth_changed |= matches!(event, Event::DeliveryChanged(_) | Event::DeviceChanged(_));
            accounts_changed.extend(event.changed_account());
            if let Some(mail) = crate::mail::request_for(&event) {
                match self.mail_message(&command.with_body(mail)) {
                    Ok(message) => messages.push(message),
                    Err(error) => tracing::error!(%error, "cannot encode a mail request"),
                }
            }
            let event = command.with_body(event);
            if event.body.is_package_event() {
                match self.event_message(&event) {
                    Ok(message) => messages.push(message),
                    Err(error) => tracing::error!(%error, "cannot encode an event"),
                }
            }
            replies.push((*delivery, event));
        }
        // Coordinates on a status update also belong in the location
        // history: sent through the location pool as idempotent points.
        if let (false, Some((_, first))) = (forwarded.points.is_empty(), commands.first()) {
            let batch = first.with_body(forwarded);
            match self.location_message(&batch) {
                Ok(message) => messages.push(message),
                Err(error) => tracing::error!(%error, "cannot encode forwarded points"),
            }
        }
        self.invalidator.invalidate(changes).await;
        if auth_changed {
            self.invalidator.auth_changed().await;
        }
        self.invalidator.accounts_changed(accounts_changed).await;
        if let Err(abandoned) = self
            .publisher
            .publish_committed(&messages, &self.stop)
            .await
        {
            return abandoned.into();
        }
        self.count_dead_letters(QueueKind::Packages, &messages);
        for (delivery, event) in replies {
            self.reply(delivery, &event).await;
        }
        Settlement::Ack
    }

    async fn handle_locations(&self, queue: &str, window: &[Delivery]) -> Settlement {
        let mut messages = Vec::new();
        let batches: Vec<(&Delivery, Envelope<LocationBatch>)> =
            self.decode_all(queue, window, &mut messages);
        let screened = match self.screen(queue, &batches, &mut messages).await {
            Ok(screened) => screened,
            Err(Abandoned) => return Settlement::Abandon,
        };
        // Each message is one unit for isolation: if the merged window fails
        // for good, each is tried alone and only the culprit is dead-lettered.
        let units: Vec<&Envelope<LocationBatch>> = screened.iter().map(AsRef::as_ref).collect();
        let applied = match self
            .apply_isolating(
                QueueKind::Locations.pool(),
                &units,
                |batch| self.apply_points(batch),
                |e: &locations::LocationError| e.is_transient(),
            )
            .await
        {
            Ok(applied) => applied,
            Err(Abandoned) => return Settlement::Abandon,
        };
        let mut changes = Vec::new();
        for ((delivery, batch), result) in batches.iter().zip(applied) {
            let unit = match result {
                Applied::Done(unit) => unit,
                Applied::Failed(reason) => {
                    messages.push(self.dead_letter(queue, delivery, &reason));
                    continue;
                }
            };
            self.metrics
                .lag
                .with_label_values(&[QueueKind::Locations.pool()])
                .observe(shared::metrics::seconds_since(batch.occurred_at));
            applied_in_trace(&batch.trace).in_scope(|| {
                tracing::debug!(
                    event_id = %batch.event_id,
                    points = batch.body.points.len(),
                    "location points stored"
                )
            });
            changes.extend(unit.moved);
            for event in unit.events {
                let event = batch.with_body(Event::LocationsRecorded(event));
                match self.event_message(&event) {
                    Ok(message) => messages.push(message),
                    Err(error) => tracing::error!(%error, "cannot encode an event"),
                }
            }
            if !unit.unknown.is_empty() {
                messages.push(self.unknown_points(delivery, batch, unit.unknown));
            }
        }
        self.invalidator.invalidate(changes).await;
        match self
            .publisher
            .publish_committed(&messages, &self.stop)
            .await
        {
            Ok(()) => {
                self.count_dead_letters(QueueKind::Locations, &messages);
                Settlement::Ack
            }
            Err(abandoned) => abandoned.into(),
        }
    }

    /// Counts the dead letters among `published`, once the broker has them
    /// (an abandoned window is redelivered and would count twice).
    fn count_dead_letters(&self, kind: QueueKind, published: &[Message]) {
        let dead = self.topology.dead_exchange();
        let count = published.iter().filter(|m| m.exchange == dead).count();
        if count > 0 {
            self.metrics
                .dead_lettered
                .with_label_values(&[kind.pool()])
                .inc_by(count as u64);
        }
    }

    /// Asks the policy about every point's poster. A message with points its
    /// posters may not post is dead-lettered with the reason (a re-drive
    /// screens it again), and only its other points go on.
    async fn screen<'w>(
        &self,
        queue: &str,
        batches: &'w [(&Delivery, Envelope<LocationBatch>)],
        messages: &mut Vec<Message>,
    ) -> Result<Vec<std::borrow::Cow<'w, Envelope<LocationBatch>>>, Abandoned> {
        let units: Vec<&Envelope<LocationBatch>> = batches.iter().map(|(_, b)| b).collect();
        let refused = match self
            .with_retry(
                (QueueKind::Locations.pool(), units.len()),
                || locations::screening::refused_points(&self.pool, &units),
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
                    .map(|b| b.body.points.iter().map(|p| p.point_id).collect())
                    .collect()
            }
        };
        Ok(batches
            .iter()
            .zip(refused)
            .map(|((delivery, batch), refused)| {
                if refused.is_empty() {
                    return std::borrow::Cow::Borrowed(batch);
                }
                let mut numbers: Vec<&str> = batch
                    .body
                    .points
                    .iter()
                    .filter(|p| refused.contains(&p.point_id))
                    .map(|p| p.tracking_number.as_str())
                    .collect();
                numbers.sort_unstable();
                numbers.dedup();
                let reason = format!(
                    "forbidden: the poster may not post locations for {}",
                    numbers.join(", ")
                );
                tracing::warn!(%reason, "points refused by the policy");
                messages.push(self.dead_letter(queue, delivery, &reason));
                std::borrow::Cow::Owned(
                    batch.with_body(LocationBatch {
                        points: batch
                            .body
                            .points
                            .iter()
                            .filter(|p| !refused.contains(&p.point_id))
                            .cloned()
                            .collect(),
                        sources: batch.body.sources.clone(),
                    }),
                )
            })
            .collect())
    }

    /// Applies a window's location batches merged, and splits the result back
    /// per batch (events and moves are reported once, with the first batch).
    async fn apply_points(
        &self,
        batches: &[&Envelope<LocationBatch>],
    ) -> Result<Vec<PointsUnit>, locations::LocationError> {
        let points: Vec<&LocationPoint> = batches.iter().flat_map(|b| &b.body.points).collect();
        let mut applied = locations::apply(&self.pool, &self.locations, &points).await?;
        let pool = QueueKind::Locations.pool();
        for (store, took) in [
            ("postgres", applied.postgres_took),
            ("mongodb", applied.mongodb_took),
        ] {
            self.metrics
                .store_seconds
                .with_label_values(&[pool, store])
                .observe(took.as_secs_f64());
        }
        if !applied.moved.is_empty() {
            self.projection.nudge();
        }
        // After the points are stored, before the window is acked: a crash in
        // between redelivers the window, and the trail gets its rows then.
        let trail = locations_audit(batches, &applied.unknown);
        shared::audit::record(&self.pool, &trail).await?;
        let mut units: Vec<PointsUnit> = batches
            .iter()
            .map(|batch| PointsUnit {
                events: Vec::new(),
                moved: Vec::new(),
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
            first.events = std::mem::take(&mut applied.events);
            first.moved = std::mem::take(&mut applied.moved);
        }
        Ok(units)
    }

    /// Decodes every delivery; one that can never be decoded gets a dead
    /// letter in `messages` and is left out.
    /// A message whose seal does not verify (unsigned, or forged by someone
    /// who can publish on the broker but lacks the key) is refused the same
    /// way, counted by why.
    fn decode_all<'w, B: serde::de::DeserializeOwned>(
        &self,
        queue: &str,
        window: &'w [Delivery],
        messages: &mut Vec<Message>,
    ) -> Vec<(&'w Delivery, Envelope<B>)> {
        let mut decoded = Vec::with_capacity(window.len());
        for delivery in window {
            let opened = self.keys.open(&delivery.data).map_err(|refused| {
                self.metrics
                    .refused
                    .with_label_values(&[pool_of(queue, &self.topology), refused.label()])
                    .inc();
                shared::wire::WireError::from(refused)
            });
            match opened.and_then(Envelope::<B>::decode) {
                Ok(envelope) => decoded.push((delivery, envelope)),
                Err(error) => messages.push(self.dead_letter(queue, delivery, &error.to_string())),
            }
        }
        decoded
    }

    /// Applies `units` together, retrying transient failures. If they fail for
    /// good together, each is applied alone, so one poisonous message cannot
    /// hold the others back; the ones that fail alone are reported failed.
    async fn apply_isolating<'a, U, T, E, Fut>(
        &self,
        pool: &'static str,
        units: &'a [U],
        apply: impl Fn(&'a [U]) -> Fut,
        is_transient: impl Fn(&E) -> bool + Copy,
    ) -> Result<Vec<Applied<T>>, Abandoned>
    where
        E: std::fmt::Display,
        Fut: Future<Output = Result<Vec<T>, E>>,
    {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .with_retry((pool, units.len()), || apply(units), is_transient)
            .await
        {
            Ok(results) => return Ok(results.into_iter().map(Applied::Done).collect()),
            Err(RetryError::Cancelled) => return Err(Abandoned),
            Err(RetryError::Permanent(error)) if units.len() == 1 => {
                return Ok(vec![Applied::Failed(format!("cannot be applied: {error}"))])
            }
            Err(RetryError::Permanent(error)) => {
                tracing::warn!(%error, units = units.len(), "window failed; applying its messages one by one");
            }
        }
        let mut results = Vec::with_capacity(units.len());
        for unit in units.chunks(1) {
            results.push(
                match self
                    .with_retry((pool, 1), || apply(unit), is_transient)
                    .await
                {
                    Ok(mut one) => Applied::Done(one.remove(0)),
                    Err(RetryError::Cancelled) => return Err(Abandoned),
                    Err(RetryError::Permanent(error)) => {
                        Applied::Failed(format!("cannot be applied: {error}"))
                    }
                },
            );
        }
        Ok(results)
    }

    /// Runs `operation` until it succeeds, fails for good or shutdown comes;
    /// each attempt after the first counts `messages` retried in `pool`.
    async fn with_retry<T, E, Fut>(
        &self,
        (pool, messages): (&'static str, usize),
        mut operation: impl FnMut() -> Fut,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, RetryError<E>>
    where
        E: std::fmt::Display,
        Fut: Future<Output = Result<T, E>>,
    {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempts = 0u64;
        let result = retry(
            backoff,
            &self.stop,
            "applying a window",
            || {
                attempts += 1;
                operation()
            },
            is_transient,
        )
        .await;
        if attempts > 1 {
            self.metrics
                .retried
                .with_label_values(&[pool])
                .inc_by((attempts - 1) * messages as u64);
        }
        result
    }

    /// Points whose package is unknown: back through the delay line while
    /// their package may still be on its way, then dead-lettered with why.
    fn unknown_points(
        &self,
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
        });
        let mut message = match self.location_message(&waiting) {
            Ok(message) => message,
            Err(error) => {
                return self.dead_letter(
                    &self.topology.locations_queue(),
                    delivery,
                    &error.to_string(),
                )
            }
        };
        if age < self.unknown_package_retry {
            tracing::debug!(%numbers, ?age, "points for unknown packages wait for them");
            message.exchange = String::new();
            message.routing_key = self.topology.location_retry_queue();
            return message;
        }
        let reason = format!(
            "unknown tracking number(s) after {}s: {numbers}",
            self.unknown_package_retry.as_secs()
        );
        tracing::warn!(%reason, "dead-lettering location points");
        crate::dead_letter::to_dead_letter(
            message,
            &self.topology.dead_exchange(),
            &self.topology.locations_queue(),
            &reason,
        )
    }

    fn dead_letter(&self, queue: &str, delivery: &Delivery, reason: &str) -> Message {
        tracing::error!(
            queue,
            reason,
            "dead-lettering a message that can never succeed"
        );
        dead_letter_message(&self.topology.dead_exchange(), queue, delivery, reason)
    }

    fn event_message(&self, event: &Envelope<Event>) -> Result<Message, shared::wire::WireError> {
        let kind = event.body.kind();
        envelope_message(
            &self.keys,
            self.topology.events_exchange(),
            Topology::event_routing_key(event.body.tracking_number(), kind),
            event,
            kind,
            Routing::BestEffort,
        )
    }

    fn location_message(
        &self,
        batch: &Envelope<LocationBatch>,
    ) -> Result<Message, shared::wire::WireError> {
        envelope_message(
            &self.keys,
            self.topology.commands_exchange(),
            Topology::LOCATION_ROUTING_KEY.to_owned(),
            batch,
            "location",
            Routing::Mandatory,
        )
    }

    fn mail_message(
        &self,
        mail: &Envelope<shared::wire::MailRequest>,
    ) -> Result<Message, shared::wire::WireError> {
        envelope_message(
            &self.keys,
            self.topology.commands_exchange(),
            Topology::MAIL_ROUTING_KEY.to_owned(),
            mail,
            "mail",
            Routing::Mandatory,
        )
    }

    async fn reply(&self, delivery: &Delivery, event: &Envelope<Event>) {
        let (Some(reply_to), Some(correlation_id)) = (
            delivery.properties.reply_to(),
            delivery.properties.correlation_id(),
        ) else {
            return;
        };
        match event.seal(&self.keys) {
            Ok(payload) => {
                self.publisher
                    .reply(reply_to, correlation_id, &payload)
                    .await
            }
            Err(error) => tracing::error!(%error, "cannot encode a reply"),
        }
    }
}

/// A span for one message's part of a window, in the trace it carried: its
/// `trace_id` in the logs, and the message's hop in exported traces.
fn applied_in_trace(trace: &shared::wire::TraceContext) -> tracing::Span {
    let span = tracing::info_span!("applied", trace_id = trace.trace_id());
    if let Some(traceparent) = &trace.traceparent {
        shared::telemetry::continue_trace(&span, traceparent);
    }
    span
}

/// The `pool` label of a queue's metrics.
fn pool_of(queue: &str, topology: &Topology) -> &'static str {
    if queue == topology.locations_queue() {
        QueueKind::Locations.pool()
    } else {
        QueueKind::Packages.pool()
    }
}

/// One unit's result after [`Pipeline::apply_isolating`].
enum Applied<T> {
    Done(T),
    /// Failed for good, alone: dead-letter it with this reason.
    Failed(String),
}

/// What one location message came to.
struct PointsUnit {
    events: Vec<shared::wire::LocationsRecorded>,
    moved: Vec<(String, i64)>,
    unknown: Vec<LocationPoint>,
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
        accuracy_m: None,
        speed_mps: None,
        heading_deg: None,
        recorded_at: changed.changed_at,
        received_at: changed.changed_at,
        source: None,
    })
}

/// The audit rows of a window's stored points: one per message, poster and
/// package, with how many points and over what time.
fn locations_audit(
    batches: &[&Envelope<LocationBatch>],
    unknown: &std::collections::HashSet<uuid::Uuid>,
) -> Vec<shared::audit::AuditEntry> {
    use std::collections::BTreeMap;
    let mut entries = Vec::new();
    for batch in batches {
        let mut groups: BTreeMap<(Option<u16>, &str), Vec<&LocationPoint>> = BTreeMap::new();
        for point in batch
            .body
            .points
            .iter()
            .filter(|p| !unknown.contains(&p.point_id))
        {
            groups
                .entry((point.source, point.tracking_number.as_str()))
                .or_default()
                .push(point);
        }
        for ((source, tracking_number), points) in groups {
            let principal = source
                .and_then(|i| batch.body.sources.get(usize::from(i)))
                .cloned()
                .unwrap_or_else(|| batch.principal.clone());
            let first = points.iter().map(|p| p.recorded_at).min();
            let last = points.iter().map(|p| p.recorded_at).max();
            entries.push(shared::audit::AuditEntry {
                event_id: batch.event_id,
                part: format!("{}:{tracking_number}", source.map_or(-1, i32::from)),
                occurred_at: batch.occurred_at,
                principal,
                action: "locations".into(),
                target: Some(tracking_number.to_owned()),
                change: serde_json::json!({
                    "points": points.len(),
                    "first_recorded_at": first,
                    "last_recorded_at": last,
                }),
            });
        }
    }
    entries
}
