//! The broker side of the broadcaster.
//!
//! One task owns the AMQP connection, the instance's exclusive queue and its
//! bindings. Connections ask it to [`Events::sync`] a package: it binds
//! `package.<tn>.*` if the hub has watchers and the queue is not bound, and
//! unbinds in the opposite case. One task applying every change in order means
//! a subscribe and an unsubscribe racing for the same package always end in
//! the state the hub is in. After a reconnect every watched package is bound
//! again, and every client told to read what it missed from the stores.

use crate::hub::{Hub, Outgoing, EVERY_PACKAGE};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use shared::backoff::Backoff;
use shared::topology::Topology;
use shared::wire::{Envelope, PackageEvent, SigningKeys};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the event stream is unavailable, retry later")]
    Unavailable,
}

struct SyncRequest {
    tracking_number: String,
    done: oneshot::Sender<Result<(), SyncError>>,
}

#[derive(Clone)]
pub struct Events {
    requests: mpsc::Sender<SyncRequest>,
}

impl Events {
    pub fn start(
        brokers: shared::brokers::Brokers,
        topology: Topology,
        keys: SigningKeys,
        hub: Arc<Hub>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (requests, receiver) = mpsc::channel(1024);
        let source = Source {
            brokers,
            topology,
            keys,
        };
        let task = tokio::spawn(run(source, hub, receiver, shutdown));
        (Self { requests }, task)
    }

    /// Makes the queue's binding for this package match the hub's watchers.
    pub async fn sync(&self, tracking_number: &str) -> Result<(), SyncError> {
        let (done, result) = oneshot::channel();
        let request = SyncRequest {
            tracking_number: tracking_number.to_owned(),
            done,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| SyncError::Unavailable)?;
        tokio::time::timeout(SYNC_TIMEOUT, result)
            .await
            .map_err(|_| SyncError::Unavailable)?
            .map_err(|_| SyncError::Unavailable)?
    }
}

/// The bindings a hub key needs: a package's events; the feed's every
/// package's and every courier's; a courier's own. Bindings may overlap: the
/// broker puts a message in the queue once however many match.
fn binding_keys(key: &str) -> Vec<String> {
    if key == EVERY_PACKAGE {
        vec!["package.*.*".to_owned(), "courier.*.*".to_owned()]
    } else if let Some(courier_id) = crate::hub::courier_of(key) {
        vec![format!("courier.{courier_id}.*")]
    } else {
        vec![format!("package.{key}.*")]
    }
}

/// Where events come from, and the keys their seals are opened with.
struct Source {
    brokers: shared::brokers::Brokers,
    topology: Topology,
    keys: SigningKeys,
}

async fn run(
    source: Source,
    hub: Arc<Hub>,
    mut requests: mpsc::Receiver<SyncRequest>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while !shutdown.is_cancelled() {
        match connected(&source, &hub, &mut requests, &shutdown).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "event stream lost; reconnecting"),
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Why the event stream ended, by the stage that failed: the broadcaster
/// reconnects.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("cannot open the event stream: {0}")]
    Open(#[from] lapin::Error),
    #[error("binding a watched package failed: {0}")]
    Binding(lapin::Error),
    #[error("the event consumer failed: {0}")]
    Consumer(lapin::Error),
    #[error("the broker ended the event consumer")]
    ConsumerEnded,
}

/// The instance's queue on one connection, bound to the watched packages.
struct Stream {
    connection: lapin::Connection,
    channel: Channel,
    queue: String,
    exchange: String,
    deliveries: lapin::Consumer,
    bound: HashSet<String>,
}

async fn connected(
    source: &Source,
    hub: &Hub,
    requests: &mut mpsc::Receiver<SyncRequest>,
    shutdown: &CancellationToken,
) -> Result<(), StreamError> {
    let mut stream = Stream::open(source, hub).await?;
    tracing::info!(queue = stream.queue, "event stream connected");
    hub.metrics.broker_connected.set(1);
    // Whatever was published while the stream was down never reaches this
    // queue: every client checks the stores.
    hub.resync_all();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(request) = requests.recv() => {
                let reconciled = stream.reconcile(hub, &request.tracking_number).await;
                let failed = reconciled.is_err();
                let _ = request.done.send(reconciled.as_ref().map(drop).map_err(|_| SyncError::Unavailable));
                if failed {
                    break reconciled.map_err(StreamError::Binding);
                }
            }
            delivery = stream.deliveries.next() => match delivery {
                Some(Ok(delivery)) if delivery.routing_key.as_str().starts_with(crate::couriers::ROUTING_PREFIX) => {
                    crate::couriers::forward(hub, &source.keys, &delivery.data)
                }
                Some(Ok(delivery)) => forward(hub, &source.keys, &delivery.data),
                Some(Err(error)) => break Err(StreamError::Consumer(error)),
                None => break Err(StreamError::ConsumerEnded),
            },
        }
    };
    hub.metrics.broker_connected.set(0);
    let _ = stream
        .connection
        .close(200, "broadcaster stopping".into())
        .await;
    result
}

impl Stream {
    /// A connection, an exclusive queue consumed without acks, and a
    /// binding for each package the hub's clients watch.
    async fn open(source: &Source, hub: &Hub) -> Result<Self, StreamError> {
        let connection = source.brokers.connect("delivertrack-broadcaster").await?;
        let channel = connection.create_channel().await?;
        source.topology.declare_events(&channel).await?;
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare("".into(), exclusive, FieldTable::default())
            .await?;
        let queue = declared.name().as_str().to_owned();
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let deliveries = channel
            .basic_consume(
                queue.clone().into(),
                "".into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        let mut stream = Self {
            connection,
            channel,
            queue,
            exchange: source.topology.events_exchange(),
            deliveries,
            bound: HashSet::new(),
        };
        // The watchers of packages aboard a courier hear the courier's moves
        // (see [`crate::couriers`]): taken whoever watches what.
        bind(
            &stream.channel,
            &stream.queue,
            &stream.exchange,
            crate::couriers::EVERY_MOVE,
        )
        .await
        .map_err(StreamError::Binding)?;
        for tracking_number in hub.watched() {
            stream
                .reconcile(hub, &tracking_number)
                .await
                .map_err(StreamError::Binding)?;
        }
        Ok(stream)
    }

    /// Binds or unbinds the package so the queue matches the hub's watchers.
    async fn reconcile(&mut self, hub: &Hub, tracking_number: &str) -> Result<(), lapin::Error> {
        reconcile(
            &self.channel,
            &self.queue,
            &self.exchange,
            hub,
            &mut self.bound,
            tracking_number,
        )
        .await
    }
}

async fn reconcile(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    hub: &Hub,
    bound: &mut HashSet<String>,
    tracking_number: &str,
) -> Result<(), lapin::Error> {
    let wanted = hub.is_watched(tracking_number);
    if wanted && !bound.contains(tracking_number) {
        for key in binding_keys(tracking_number) {
            bind(channel, queue, exchange, &key).await?;
        }
        bound.insert(tracking_number.to_owned());
    } else if !wanted && bound.contains(tracking_number) {
        for key in binding_keys(tracking_number) {
            channel
                .queue_unbind(
                    queue.into(),
                    exchange.into(),
                    key.into(),
                    FieldTable::default(),
                )
                .await?;
        }
        bound.remove(tracking_number);
    }
    Ok(())
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
) -> Result<(), lapin::Error> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Opens the seal and decodes once, encodes each client message once,
/// shares its bytes. An event whose seal does not verify reaches nobody.
fn forward(hub: &Hub, keys: &SigningKeys, payload: &[u8]) {
    let event = match Envelope::<PackageEvent>::open(payload, keys) {
        Ok(event) => event,
        Err(error) => {
            hub.metrics.events_refused.inc();
            return tracing::warn!(%error, "event refused");
        }
    };
    let updates: Arc<[(i64, Utf8Bytes)]> = crate::update::encode(&event)
        .into_iter()
        .map(|(seq, json)| (seq, Utf8Bytes::from(json)))
        .collect();
    if updates.is_empty() {
        return;
    }
    let tracking_number = event.body.tracking_number();
    let message = Outgoing::Live {
        tracking_number: Arc::from(tracking_number),
        updates,
        occurred_at: event.occurred_at,
    };
    // The hop of the event's trace: its trace_id in the logs, its span in
    // exported traces.
    let span = tracing::info_span!("fan_out", trace_id = event.trace.trace_id());
    if let Some(traceparent) = &event.trace.traceparent {
        shared::telemetry::continue_trace(&span, traceparent);
    }
    span.in_scope(|| {
        hub.dispatch(tracking_number, &message);
        tracing::debug!(
            event_id = %event.event_id,
            kind = event.body.kind(),
            "event fanned out to its watchers"
        );
    });
}
