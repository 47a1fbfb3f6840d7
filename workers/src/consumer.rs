//! The per-queue loop: decode → apply → invalidate → publish events → reply → ack.

use crate::dead_letter::dead_letter;
use crate::locations::{self, LocationStore};
use crate::packages::{self, is_transient};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::{BasicProperties, Channel, Consumer};
use shared::amqp::{publish_envelope, PublishError, Routing};
use shared::backoff::Backoff;
use shared::cache::ViewCache;
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

/// Everything a consumer needs to carry a message to its end, shared by the
/// consumers of one broker connection.
pub struct Pipeline {
    pub pool: PgPool,
    pub cache: ViewCache,
    pub locations: LocationStore,
    pub topology: Topology,
    /// In confirm mode: result events, location commands and dead letters.
    pub publish: Channel,
    /// Replies to waiting ingest instances: best effort, no confirms.
    pub reply: Channel,
    pub confirm_timeout: Duration,
    /// Cancelled on shutdown or when a sibling consumer lost the connection.
    pub stop: CancellationToken,
}

/// What to do with a delivery once handling ends.
#[derive(Debug, PartialEq, Eq)]
enum Disposition {
    Ack,
    /// Handing back for a later retry (a publish could not be confirmed).
    Requeue,
    /// Shutdown came while retrying: leave it unacked; closing the channel
    /// returns it to the queue.
    Abandon,
}

/// How many location batches one consumer applies at once. Their order does
/// not matter (the database orders positions by `recorded_at`), and each batch
/// spends most of its time waiting on MongoDB, PostgreSQL and confirms.
pub const LOCATION_CONCURRENCY: usize = 8;

/// Consumes until shutdown (Ok) or until the channel fails (Err).
///
/// Package commands are handled one at a time, in queue order: that is what
/// keeps a package's commands ordered. Location batches run concurrently.
pub async fn consume(
    pipeline: &Pipeline,
    queue: &str,
    kind: QueueKind,
    mut consumer: Consumer,
) -> Result<(), lapin::Error> {
    let limit = match kind {
        QueueKind::Packages => 1,
        QueueKind::Locations => LOCATION_CONCURRENCY,
    };
    let mut in_flight = FuturesUnordered::new();
    let result = loop {
        tokio::select! {
            biased;
            _ = pipeline.stop.cancelled() => break Ok(()),
            Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                Ok(Settled::Continue) => {}
                Ok(Settled::Stop) => break Ok(()),
                Err(error) => break Err(error),
            },
            next = consumer.next(), if in_flight.len() < limit => match next {
                Some(Ok(delivery)) => in_flight.push(settle(pipeline, queue, kind, delivery)),
                Some(Err(error)) => break Err(error),
                None => {
                    break Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                        lapin::ChannelState::Closed,
                        "consumer ended",
                    )))
                }
            },
        }
    };
    // Let what was started finish (or abandon itself on shutdown) before the
    // channel closes, so nothing is half-acknowledged.
    while let Some(done) = in_flight.next().await {
        if let Err(error) = done {
            tracing::debug!(%error, "settling after stop failed; the broker redelivers");
        }
    }
    result
}

enum Settled {
    Continue,
    Stop,
}

/// Handles one delivery and acknowledges it as its disposition says.
async fn settle(
    pipeline: &Pipeline,
    queue: &str,
    kind: QueueKind,
    delivery: Delivery,
) -> Result<Settled, lapin::Error> {
    let disposition = match kind {
        QueueKind::Packages => pipeline.handle_command(queue, &delivery).await,
        QueueKind::Locations => pipeline.handle_locations(queue, &delivery).await,
    };
    match disposition {
        Disposition::Ack => {
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Disposition::Requeue => {
            // A short pause so a broker hiccup does not become a hot redelivery loop.
            tokio::time::sleep(Duration::from_millis(200)).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
        }
        Disposition::Abandon => return Ok(Settled::Stop),
    }
    Ok(Settled::Continue)
}

impl Pipeline {
    async fn handle_command(&self, queue: &str, delivery: &Delivery) -> Disposition {
        let envelope = match self.decode::<Command>(queue, delivery).await {
            Ok(envelope) => envelope,
            Err(settled) => return settled,
        };
        let apply = || packages::apply(&self.pool, &envelope);
        let applied = match self
            .apply(queue, delivery, envelope.event_id, apply, is_transient)
            .await
        {
            Ok(applied) => applied,
            Err(settled) => return settled,
        };
        if applied.changed {
            self.invalidate(envelope.body.tracking_number().as_str())
                .await;
        }
        // Coordinates on a status update also belong in the location history:
        // sent through the location pool, as one more idempotent point.
        if let Event::StatusChanged(changed) = &applied.event {
            if let Err(error) = self.forward_location(&envelope, changed).await {
                tracing::warn!(%error, "location of a status update not confirmed; requeueing");
                return Disposition::Requeue;
            }
        }
        let event = envelope.with_body(applied.event);
        if let Err(error) = self.publish_event(&event).await {
            tracing::warn!(%error, "result event not confirmed; requeueing the command");
            return Disposition::Requeue;
        }
        self.reply(delivery, &event).await;
        Disposition::Ack
    }

    async fn handle_locations(&self, queue: &str, delivery: &Delivery) -> Disposition {
        let envelope = match self.decode::<LocationBatch>(queue, delivery).await {
            Ok(envelope) => envelope,
            Err(settled) => return settled,
        };
        let apply = || locations::apply(&self.pool, &self.locations, &envelope.body);
        let transient = |e: &locations::LocationError| e.is_transient();
        let applied = match self
            .apply(queue, delivery, envelope.event_id, apply, transient)
            .await
        {
            Ok(applied) => applied,
            Err(settled) => return settled,
        };
        if !applied.unknown.is_empty() {
            if let Err(error) = self.dead_letter_unknown(&envelope, applied.unknown).await {
                tracing::warn!(%error, "dead letter not confirmed; requeueing");
                return Disposition::Requeue;
            }
        }
        for tracking_number in &applied.moved {
            self.invalidate(tracking_number).await;
        }
        let events: Vec<Envelope<Event>> = applied
            .events
            .into_iter()
            .map(|e| envelope.with_body(e))
            .collect();
        let published =
            futures_util::future::try_join_all(events.iter().map(|e| self.publish_event(e))).await;
        if let Err(error) = published {
            tracing::warn!(%error, "location events not confirmed; requeueing the batch");
            return Disposition::Requeue;
        }
        Disposition::Ack
    }

    /// Decodes a delivery; one that can never be decoded is dead-lettered.
    async fn decode<B: serde::de::DeserializeOwned>(
        &self,
        queue: &str,
        delivery: &Delivery,
    ) -> Result<Envelope<B>, Disposition> {
        match Envelope::<B>::decode(&delivery.data) {
            Ok(envelope) => Ok(envelope),
            Err(error) => Err(self
                .reject_permanently(queue, delivery, &error.to_string())
                .await),
        }
    }

    /// Runs `apply`, retrying transient failures with backoff until they pass;
    /// a permanent failure dead-letters the delivery, shutdown abandons it.
    async fn apply<T, E, F, Fut>(
        &self,
        queue: &str,
        delivery: &Delivery,
        event_id: uuid::Uuid,
        mut apply: F,
        transient: impl Fn(&E) -> bool,
    ) -> Result<T, Disposition>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match apply().await {
                Ok(applied) => return Ok(applied),
                Err(error) if transient(&error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, ?delay, %event_id, "store unavailable; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => return Err(Disposition::Abandon),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(error) => {
                    let reason = format!("cannot be applied: {error}");
                    return Err(self.reject_permanently(queue, delivery, &reason).await);
                }
            }
        }
    }

    /// Redis is a cache with a TTL: failing to invalidate must not stop the
    /// pipeline. Readers fall back to the database while Redis is down.
    async fn invalidate(&self, tracking_number: &str) {
        if let Err(error) = self.cache.invalidate_package(tracking_number).await {
            tracing::warn!(%error, tracking_number, "could not invalidate the cached view");
        }
    }

    async fn publish_event(&self, event: &Envelope<Event>) -> Result<(), PublishError> {
        let kind = event.body.kind();
        let routing_key = Topology::event_routing_key(event.body.tracking_number(), kind);
        let exchange = self.topology.events_exchange();
        publish_envelope(
            &self.publish,
            &exchange,
            &routing_key,
            event,
            kind,
            Routing::BestEffort,
            self.confirm_timeout,
        )
        .await
    }

    async fn forward_location(
        &self,
        command: &Envelope<Command>,
        changed: &StatusChanged,
    ) -> Result<(), PublishError> {
        let Some(coordinates) = changed.coordinates else {
            return Ok(());
        };
        let Command::UpdateStatus(update) = &command.body else {
            return Ok(());
        };
        let point = LocationPoint {
            // Derived from the command, so a redelivered status update forwards the same point.
            point_id: uuid::Uuid::new_v5(&command.event_id, b"location"),
            tracking_number: changed.tracking_number.clone(),
            coordinates,
            address: update.location.clone(),
            accuracy_m: None,
            speed_mps: None,
            heading_deg: None,
            recorded_at: changed.changed_at,
            received_at: changed.changed_at,
        };
        let batch = command.with_body(LocationBatch {
            points: vec![point],
        });
        publish_envelope(
            &self.publish,
            &self.topology.commands_exchange(),
            Topology::LOCATION_ROUTING_KEY,
            &batch,
            "location",
            Routing::Mandatory,
            self.confirm_timeout,
        )
        .await
    }

    async fn dead_letter_unknown(
        &self,
        batch: &Envelope<LocationBatch>,
        unknown: Vec<LocationPoint>,
    ) -> Result<(), PublishError> {
        let mut numbers: Vec<&str> = unknown.iter().map(|p| p.tracking_number.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let reason = format!("unknown tracking number(s): {}", numbers.join(", "));
        tracing::warn!(%reason, points = unknown.len(), "dead-lettering location points");
        let dead = batch.with_body(LocationBatch { points: unknown });
        let payload = dead.encode()?;
        let properties = shared::amqp::envelope_properties(&dead, "location");
        let queue = self.topology.locations_queue();
        crate::dead_letter::publish_dead(
            &self.publish,
            &self.topology.dead_exchange(),
            &queue,
            &payload,
            properties,
            &reason,
            self.confirm_timeout,
        )
        .await
    }

    async fn reject_permanently(
        &self,
        queue: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Disposition {
        tracing::error!(
            queue,
            reason,
            "dead-lettering a message that can never succeed"
        );
        let exchange = self.topology.dead_exchange();
        match dead_letter(
            &self.publish,
            &exchange,
            queue,
            delivery,
            reason,
            self.confirm_timeout,
        )
        .await
        {
            Ok(()) => Disposition::Ack,
            Err(error) => {
                tracing::warn!(%error, "dead letter not confirmed; requeueing");
                Disposition::Requeue
            }
        }
    }

    async fn reply(&self, delivery: &Delivery, event: &Envelope<Event>) {
        let (Some(reply_to), Some(correlation_id)) = (
            delivery.properties.reply_to(),
            delivery.properties.correlation_id(),
        ) else {
            return;
        };
        let payload = match event.encode() {
            Ok(payload) => payload,
            Err(error) => return tracing::error!(%error, "cannot encode a reply"),
        };
        let properties = BasicProperties::default()
            .with_correlation_id(correlation_id.clone())
            .with_content_type("application/msgpack".into());
        // A requester that has gone away is the broker's to drop: the command
        // itself is applied either way.
        if let Err(error) = self
            .reply
            .basic_publish(
                "".into(),
                reply_to.clone(),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await
        {
            tracing::debug!(%error, "reply not sent");
        }
    }
}
