//! The ingest's RabbitMQ link.
//!
//! One supervised connection with one channel in confirm mode. Every request
//! publishes on it concurrently and awaits its own confirm. The same channel
//! consumes `amq.rabbitmq.reply-to` (direct reply-to), so a worker's outcome
//! comes back to the instance that asked; a request waiting for it holds a
//! oneshot receiver registered under the command's event id.
//!
//! When the connection drops, the link is cleared (publishes answer 503 at
//! once) and the supervisor reconnects with backoff.

use crate::metrics::IngestMetrics;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use shared::amqp::{envelope_properties, publish_confirmed, PublishError, Routing};
use shared::backoff::Backoff;
use shared::topology::{DeclareError, Topology};
use shared::wire::{Command, Envelope, Event, LocationBatch, SigningKeys};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error(transparent)]
    Publish(#[from] PublishError),
}

#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    topology: Topology,
    /// Seals what this instance publishes, opens the replies it gets.
    keys: SigningKeys,
    confirm_timeout: Duration,
    /// The live channel, if connected. The lock is only held to clone or swap.
    link: RwLock<Option<Link>>,
    connected: watch::Sender<bool>,
    waiters: Mutex<HashMap<Uuid, oneshot::Sender<Envelope<Event>>>>,
    metrics: Arc<IngestMetrics>,
    /// Cancelled when the broker's topology disagrees with this ingest's
    /// (another shard count): the application stops, saying why.
    misconfigured: CancellationToken,
    why_misconfigured: Mutex<Option<String>>,
}

#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    channel: Channel,
}

/// A request's claim on an outcome; dropping it (timeout, client gone)
/// unregisters it. Keyed by a correlation id of its own, not the event
/// id: two requests may carry one command (a retried refresh, a reused
/// Idempotency-Key), and each waits for its own reply.
pub struct PendingOutcome {
    broker: Broker,
    correlation: Uuid,
    receiver: oneshot::Receiver<Envelope<Event>>,
}

impl PendingOutcome {
    /// The outcome, or `None` if it did not come within `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<Envelope<Event>> {
        tokio::time::timeout(timeout, &mut self.receiver)
            .await
            .ok()?
            .ok()
    }
}

impl Drop for PendingOutcome {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.broker.inner.waiters.lock() {
            waiters.remove(&self.correlation);
        }
    }
}

impl Broker {
    /// Starts the supervisor; it runs until `shutdown`. The returned handle is
    /// the supervisor task, owned by the application.
    pub fn start(
        url: &str,
        topology: Topology,
        keys: SigningKeys,
        confirm_timeout: Duration,
        metrics: Arc<IngestMetrics>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let broker = Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                topology,
                keys,
                confirm_timeout,
                link: RwLock::new(None),
                connected: watch::Sender::new(false),
                waiters: Mutex::new(HashMap::new()),
                metrics,
                misconfigured: CancellationToken::new(),
                why_misconfigured: Mutex::new(None),
            }),
        };
        let supervisor = tokio::spawn(broker.clone().supervise(shutdown));
        (broker, supervisor)
    }

    /// Waits until connected (true) or `timeout` passes (false).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.inner.connected.subscribe();
        tokio::time::timeout(timeout, connected.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves with the reason if the broker's topology disagrees with this
    /// ingest's configuration; never otherwise.
    pub async fn misconfigured(&self) -> String {
        self.inner.misconfigured.cancelled().await;
        self.inner
            .why_misconfigured
            .lock()
            .ok()
            .and_then(|why| why.clone())
            .unwrap_or_default()
    }

    pub fn is_connected(&self) -> bool {
        self.link()
            .is_some_and(|link| link.connection.status().connected())
    }

    fn link(&self) -> Option<Link> {
        self.inner.link.read().ok()?.clone()
    }

    fn set_link(&self, link: Option<Link>) {
        self.inner.connected.send_replace(link.is_some());
        self.inner
            .metrics
            .broker_connected
            .set(i64::from(link.is_some()));
        if let Ok(mut slot) = self.inner.link.write() {
            *slot = link;
        }
    }

    /// Publishes a command, persistent and confirmed. With `await_outcome`, the
    /// worker's reply is routed back here; the returned [`PendingOutcome`]
    /// yields it.
    pub async fn send(
        &self,
        envelope: &Envelope<Command>,
        await_outcome: bool,
    ) -> Result<Option<PendingOutcome>, SendError> {
        let link = self
            .link()
            .ok_or_else(|| self.refused(SendError::NotConnected))?;
        let kind = envelope.body.kind();
        let mut properties = envelope_properties(envelope, kind);
        // Registered before publishing: the reply may beat the confirm.
        let pending = if await_outcome {
            let (sender, receiver) = oneshot::channel();
            let correlation = Uuid::new_v4();
            if let Ok(mut waiters) = self.inner.waiters.lock() {
                waiters.insert(correlation, sender);
            }
            properties = properties
                .with_reply_to(REPLY_TO.into())
                .with_correlation_id(correlation.to_string().into());
            Some(PendingOutcome {
                broker: self.clone(),
                correlation,
                receiver,
            })
        } else {
            None
        };
        let topology = &self.inner.topology;
        let routing_key = topology.package_routing_key(&envelope.body.shard_key(), kind);
        let payload = envelope
            .seal(&self.inner.keys)
            .map_err(PublishError::from)?;
        self.publish(
            &link,
            "command",
            &topology.commands_exchange(),
            &routing_key,
            &payload,
            properties,
        )
        .await
        .map_err(|e| self.refused(e.into()))?;
        Ok(pending)
    }

    /// Publishes, confirmed and mandatory. A nack means the broker did not
    /// store the message (a quorum queue electing a leader, say), so it is
    /// safe to try again: briefly, before the client is told 503.
    async fn publish(
        &self,
        link: &Link,
        kind: &str,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: lapin::BasicProperties,
    ) -> Result<(), PublishError> {
        let mut delay = Duration::from_millis(50);
        let started = std::time::Instant::now();
        for _ in 0..3 {
            let attempt = publish_confirmed(
                &link.channel,
                exchange,
                routing_key,
                payload,
                properties.clone(),
                Routing::Mandatory,
                self.inner.confirm_timeout,
            )
            .await;
            match attempt {
                Err(PublishError::Nacked) => {
                    tracing::debug!(?delay, "publish nacked; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => {
                    self.inner
                        .metrics
                        .confirm_seconds
                        .with_label_values(&[kind])
                        .observe(started.elapsed().as_secs_f64());
                    return other;
                }
            }
        }
        Err(PublishError::Nacked)
    }

    /// Publishes a batch of location points as one confirmed message.
    pub async fn send_locations(&self, batch: &Envelope<LocationBatch>) -> Result<(), SendError> {
        let link = self
            .link()
            .ok_or_else(|| self.refused(SendError::NotConnected))?;
        let payload = batch.seal(&self.inner.keys).map_err(PublishError::from)?;
        let exchange = self.inner.topology.commands_exchange();
        let properties = envelope_properties(batch, "location");
        self.publish(
            &link,
            "locations",
            &exchange,
            Topology::LOCATION_ROUTING_KEY,
            &payload,
            properties,
        )
        .await
        .map_err(|e| self.refused(e.into()))?;
        Ok(())
    }

    /// Ready messages and consumers of each queue (`None` for a missing
    /// one), by passive declares on a channel of their own: a missing queue
    /// closes its channel, never the publishing one.
    pub async fn queue_counts(
        &self,
        queues: &[String],
    ) -> Result<Vec<Option<(u32, u32)>>, SendError> {
        let link = self.link().ok_or(SendError::NotConnected)?;
        let open = || async {
            link.connection
                .create_channel()
                .await
                .map_err(|e| SendError::Publish(e.into()))
        };
        let mut channel = open().await?;
        let mut counts = Vec::with_capacity(queues.len());
        for queue in queues {
            let declared = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            match declared {
                Ok(declared) => {
                    counts.push(Some((declared.message_count(), declared.consumer_count())))
                }
                Err(_) => {
                    counts.push(None);
                    channel = open().await?;
                }
            }
        }
        let _ = channel.close(200, "counted".into()).await;
        Ok(counts)
    }

    /// Counts a publish the broker did not take (the client gets a 503).
    fn refused(&self, error: SendError) -> SendError {
        let reason = match &error {
            SendError::NotConnected => "not_connected",
            SendError::Publish(PublishError::Nacked) => "nacked",
            SendError::Publish(PublishError::Timeout(_)) => "timeout",
            SendError::Publish(PublishError::Unroutable(_)) => "unroutable",
            SendError::Publish(PublishError::Encode(_)) => "encode",
            SendError::Publish(PublishError::Broker(_)) => "broker",
        };
        self.inner
            .metrics
            .publishes_refused
            .with_label_values(&[reason])
            .inc();
        error
    }

    fn deliver_outcome(&self, correlation_id: &str, payload: &[u8]) {
        let Ok(correlation) = Uuid::parse_str(correlation_id) else {
            return;
        };
        let waiter = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&correlation));
        let Some(waiter) = waiter else { return };
        // A reply that does not verify is dropped: the request answers 202
        // (accepted, outcome unknown) rather than what a forger said.
        match Envelope::<Event>::open(payload, &self.inner.keys) {
            Ok(outcome) => {
                let _ = waiter.send(outcome);
            }
            Err(error) => tracing::warn!(%error, "reply refused"),
        }
    }

    async fn supervise(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        while !shutdown.is_cancelled() {
            match self.connect().await {
                Ok((link, mut replies)) => {
                    tracing::info!("connected to RabbitMQ");
                    backoff.reset();
                    self.set_link(Some(link.clone()));
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => break,
                            next = replies.next() => next,
                        };
                        match next {
                            Some(Ok(delivery)) => {
                                if let Some(id) = delivery.properties.correlation_id() {
                                    self.deliver_outcome(id.as_str(), &delivery.data);
                                }
                            }
                            Some(Err(error)) => {
                                tracing::warn!(%error, "RabbitMQ link lost");
                                break;
                            }
                            None => break,
                        }
                    }
                    self.set_link(None);
                    let _ = link.connection.close(200, "ingest stopping".into()).await;
                }
                Err(error @ DeclareError::ShardsMismatch { .. }) => {
                    // Said once, by the process on its way out (main).
                    if let Ok(mut why) = self.inner.why_misconfigured.lock() {
                        *why = Some(error.to_string());
                    }
                    self.inner.misconfigured.cancel();
                    return;
                }
                Err(error) => tracing::warn!(%error, "cannot connect to RabbitMQ"),
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn connect(&self) -> Result<(Link, lapin::Consumer), DeclareError> {
        let connection = shared::amqp::connect(&self.inner.url, "delivertrack-ingest").await?;
        self.inner
            .topology
            .declare(&connection.create_channel().await?)
            .await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // Direct reply-to must be consumed (no-ack) on the publishing channel
        // before the first publish that names it.
        let replies = channel
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((
            Link {
                connection: Arc::new(connection),
                channel,
            },
            replies,
        ))
    }
}
