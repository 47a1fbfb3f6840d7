//! The broker side of the broadcaster.
//!
//! One task owns the AMQP connection, the instance's exclusive queue and its
//! bindings. Connections ask it to [`Events::sync`] a package: it binds
//! `package.<tn>.*` if the hub has watchers and the queue is not bound, and
//! unbinds in the opposite case. One task applying every change in order means
//! a subscribe and an unsubscribe racing for the same package always end in
//! the state the hub is in. After a reconnect every watched package is bound
//! again, and every client told to read what it missed from the stores.

use crate::hub::{Hub, Outgoing};
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
        url: String,
        topology: Topology,
        keys: SigningKeys,
        hub: Arc<Hub>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (requests, receiver) = mpsc::channel(1024);
        let source = Source {
            url,
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

fn binding_key(tracking_number: &str) -> String {
    format!("package.{tracking_number}.*")
}

/// Where events come from, and the keys their seals are opened with.
struct Source {
    url: String,
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

async fn connected(
    source: &Source,
    hub: &Hub,
    requests: &mut mpsc::Receiver<SyncRequest>,
    shutdown: &CancellationToken,
) -> Result<(), lapin::Error> {
    let topology = &source.topology;
    let connection = shared::amqp::connect(&source.url, "delivertrack-broadcaster").await?;
    let channel = connection.create_channel().await?;
    topology.declare_events(&channel).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let queue = queue.name().as_str().to_owned();
    let mut deliveries = channel
        .basic_consume(
            queue.clone().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let exchange = topology.events_exchange();
    let mut bound = HashSet::new();
    for tracking_number in hub.watched() {
        bind(&channel, &queue, &exchange, &tracking_number).await?;
        bound.insert(tracking_number);
    }
    tracing::info!(queue, "event stream connected");
    hub.metrics.broker_connected.set(1);
    // Whatever was published while the stream was down never reaches this
    // queue: every client checks the stores.
    hub.resync_all();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(request) = requests.recv() => {
                match reconcile(&channel, &queue, &exchange, hub, &mut bound, &request.tracking_number).await {
                    Ok(()) => {
                        let _ = request.done.send(Ok(()));
                    }
                    Err(error) => {
                        let _ = request.done.send(Err(SyncError::Unavailable));
                        break Err(error);
                    }
                }
            }
            delivery = deliveries.next() => match delivery {
                Some(Ok(delivery)) => forward(hub, &source.keys, &delivery.data),
                Some(Err(error)) => break Err(error),
                None => break Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(lapin::ChannelState::Closed, "event consumer ended"))),
            },
        }
    };
    hub.metrics.broker_connected.set(0);
    let _ = connection.close(200, "broadcaster stopping".into()).await;
    result
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
        bind(channel, queue, exchange, tracking_number).await?;
        bound.insert(tracking_number.to_owned());
    } else if !wanted && bound.contains(tracking_number) {
        channel
            .queue_unbind(
                queue.into(),
                exchange.into(),
                binding_key(tracking_number).into(),
                FieldTable::default(),
            )
            .await?;
        bound.remove(tracking_number);
    }
    Ok(())
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    tracking_number: &str,
) -> Result<(), lapin::Error> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            binding_key(tracking_number).into(),
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
