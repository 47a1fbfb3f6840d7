//! The per-queue loop: decode → apply → invalidate → publish event → reply → ack.

use crate::dead_letter::dead_letter;
use crate::packages::{self, is_transient, Applied};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::{BasicProperties, Channel, Consumer};
use shared::amqp::{publish_envelope, Routing};
use shared::backoff::Backoff;
use shared::cache::ViewCache;
use shared::topology::Topology;
use shared::wire::{Command, Envelope, Event};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Everything a consumer needs to carry a command to its end, shared by the
/// consumers of one broker connection.
pub struct Pipeline {
    pub pool: PgPool,
    pub cache: ViewCache,
    pub topology: Topology,
    /// In confirm mode: result events and dead letters.
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
    /// Handing back for a later retry (the result event could not be confirmed).
    Requeue,
    /// Shutdown came while retrying: leave it unacked; closing the channel
    /// returns it to the queue.
    Abandon,
}

/// Consumes until shutdown (Ok) or until the channel fails (Err).
pub async fn consume(
    pipeline: &Pipeline,
    queue: &str,
    mut consumer: Consumer,
) -> Result<(), lapin::Error> {
    loop {
        let next = tokio::select! {
            biased;
            _ = pipeline.stop.cancelled() => return Ok(()),
            next = consumer.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => return Err(error),
            None => {
                return Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                    lapin::ChannelState::Closed,
                    "consumer ended".into(),
                )))
            }
        };
        match pipeline.handle(queue, &delivery).await {
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
            Disposition::Abandon => return Ok(()),
        }
    }
}

impl Pipeline {
    async fn handle(&self, queue: &str, delivery: &Delivery) -> Disposition {
        let envelope = match Envelope::<Command>::decode(&delivery.data) {
            Ok(envelope) => envelope,
            Err(error) => {
                return self
                    .reject_permanently(queue, delivery, &error.to_string())
                    .await
            }
        };
        let applied = match self.apply_with_retry(&envelope).await {
            Some(Ok(applied)) => applied,
            Some(Err(error)) => {
                let reason = format!("cannot be applied: {error}");
                return self.reject_permanently(queue, delivery, &reason).await;
            }
            None => return Disposition::Abandon,
        };
        let tracking_number = envelope.body.tracking_number().as_str();
        if applied.changed {
            // Redis is a cache with a TTL: failing to invalidate must not stop the
            // pipeline. Readers fall back to the database while Redis is down.
            if let Err(error) = self.cache.invalidate_package(tracking_number).await {
                tracing::warn!(%error, tracking_number, "could not invalidate the cached view");
            }
        }
        let event = Envelope {
            version: envelope.version,
            event_id: envelope.event_id,
            occurred_at: envelope.occurred_at,
            principal: envelope.principal.clone(),
            trace: envelope.trace.clone(),
            body: applied.event,
        };
        let routing_key =
            Topology::event_routing_key(event.body.tracking_number(), event.body.kind());
        let exchange = self.topology.events_exchange();
        let kind = event.body.kind();
        match publish_envelope(
            &self.publish,
            &exchange,
            &routing_key,
            &event,
            kind,
            Routing::BestEffort,
            self.confirm_timeout,
        )
        .await
        {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, "result event not confirmed; requeueing the command");
                return Disposition::Requeue;
            }
        }
        self.reply(delivery, &event).await;
        Disposition::Ack
    }

    /// Applies the command, retrying transient database failures with backoff
    /// until they pass or shutdown comes (`None`).
    async fn apply_with_retry(
        &self,
        envelope: &Envelope<Command>,
    ) -> Option<Result<Applied, sqlx::Error>> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match packages::apply(&self.pool, envelope).await {
                Err(error) if is_transient(&error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, ?delay, event_id = %envelope.event_id, "database unavailable; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                result => return Some(result),
            }
        }
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
