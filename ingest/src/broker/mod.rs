//! The ingest's RabbitMQ link.
//!
//! One supervised connection ([`link`]) with one channel in confirm mode.
//! Every request publishes on it concurrently and awaits its own confirm.
//! The same channel consumes `amq.rabbitmq.reply-to` (direct reply-to), so
//! a worker's outcome comes back to the instance that asked, to the request
//! waiting for it ([`outcome`]).

mod link;
mod outcome;

pub use outcome::PendingOutcome;

use crate::metrics::IngestMetrics;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use shared::amqp::{envelope_properties, publish_confirmed, PublishError, Routing};
use shared::topology::Topology;
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
    /// The broker's nodes; a reconnect moves on from one that went.
    brokers: shared::brokers::Brokers,
    topology: Topology,
    /// Seals what this instance publishes, opens the replies it gets.
    keys: SigningKeys,
    confirm_timeout: Duration,
    /// The live channel, if connected. The lock is only held to clone or swap.
    link: RwLock<Option<Link>>,
    connected: watch::Sender<bool>,
    /// Requests waiting for their outcome, by correlation id: the command's
    /// event id (the outcome must carry it) and where to hand it.
    waiters: Mutex<HashMap<Uuid, (Uuid, oneshot::Sender<Envelope<Event>>)>>,
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
    /// Set by the first publish that gives up on this link's node.
    abandoned: Arc<std::sync::atomic::AtomicBool>,
}

impl Broker {
    /// Starts the supervisor; it runs until `shutdown`. The returned handle is
    /// the supervisor task, owned by the application.
    pub fn start(
        brokers: &shared::brokers::Brokers,
        topology: Topology,
        keys: SigningKeys,
        confirm_timeout: Duration,
        metrics: Arc<IngestMetrics>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let broker = Self {
            inner: Arc::new(Inner {
                brokers: brokers.clone(),
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
        let pending = await_outcome.then(|| self.await_outcome(envelope.event_id));
        if let Some(pending) = &pending {
            properties = properties
                .with_reply_to(REPLY_TO.into())
                .with_correlation_id(pending.correlation.to_string().into());
        }
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
        self.abandon(link).await;
        Err(PublishError::Nacked)
    }

    /// Leaves a node that keeps refusing what it is given. Seen on RabbitMQ
    /// 3.10: after another node of the cluster was killed, one surviving
    /// node nacked every publish until the lost node came back (~17 s),
    /// though the queues had new leaders within a second. The link is
    /// closed, and the supervisor reconnects starting from the next node;
    /// this publish is answered 503, later ones go to the new link.
    async fn abandon(&self, link: &Link) {
        use std::sync::atomic::Ordering;
        if link.abandoned.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("publishes nacked again and again: moving to another broker node");
        self.inner.brokers.move_on();
        let _ = link
            .connection
            .close(320, "publishes refused: trying another node".into())
            .await;
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

    /// Asks the webhook pool for one more attempt at a delivery (an owner's
    /// redeliver), confirmed.
    pub async fn send_webhook_attempt(
        &self,
        request: &Envelope<shared::webhooks::SendRequest>,
    ) -> Result<(), SendError> {
        let link = self
            .link()
            .ok_or_else(|| self.refused(SendError::NotConnected))?;
        let payload = request.seal(&self.inner.keys).map_err(PublishError::from)?;
        let queue = self.inner.topology.webhook_send_queue();
        let properties = envelope_properties(request, "webhook_send");
        self.publish(&link, "webhook", "", &queue, &payload, properties)
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
}
