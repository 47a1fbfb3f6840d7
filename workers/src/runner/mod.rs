//! The window runner: the loop every consuming pool runs, knowing nothing of
//! what its messages mean.
//!
//! take a window ([`window`]) → the flow's handler turns it into
//! [`Effects`] (plain data: messages to publish, cache invalidations,
//! replies) → [`Runner::settle`] carries them out (invalidate, publish with
//! confirms, reply) → the window is acked in the order it was taken.
//!
//! - [`Flow`]: what a pool plugs in (`packages::flow`, `locations::flow`).
//! - [`isolate`]: applying a window together, and one by one when it fails
//!   for good, so one poisonous message cannot hold the others back.
//! - [`messages`]: decoding deliveries and encoding what a window publishes.
//! - [`persist`]: a handler waiting out a store that is down.
//! - [`ConsumeError`]: why a consumer stopped.

mod effects;
mod error;
pub mod isolate;
pub mod messages;
pub mod persist;
mod settle;
mod window;

pub use effects::{Effects, Reply, Settlement};
pub use error::ConsumeError;
pub use window::Window;

use crate::invalidator::Invalidator;
use crate::metrics::WorkerMetrics;
use crate::publisher::{Abandoned, Publisher};
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::{Connection, Consumer};
use shared::topology::Topology;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a pool plugs into the runner.
pub trait Flow: Send + Sync {
    /// The `pool` label of its metrics.
    const POOL: &'static str;
    /// Windows applied at once. One keeps a queue's messages in order.
    const PARALLEL: usize;

    /// What a window comes to. `Err(Abandoned)`: shutdown or a lost
    /// connection came first, nothing is acked and the broker redelivers.
    fn handle<'a>(
        &'a self,
        runner: &'a Runner,
        queue: &'a str,
        window: &'a [Delivery],
    ) -> impl Future<Output = Result<Effects, Abandoned>> + Send + 'a;
}

/// What every pool's consumers share on one broker connection: the only
/// holder of the publisher, the invalidator and the signing keys.
pub struct Runner {
    pub invalidator: Invalidator,
    pub topology: Topology,
    /// Opens every message's seal before it is decoded; seals what is published.
    pub keys: shared::wire::SigningKeys,
    pub publisher: Publisher,
    /// Cancelled on shutdown or when a sibling consumer lost the connection.
    pub stop: CancellationToken,
    /// Set (before `stop` is cancelled) when publishing outside a window's
    /// settlement found the connection gone ([`Runner::publish_early`]): the
    /// consumers then end with [`ConsumeError::PublishingLost`], so the
    /// session reconnects instead of ending as if shut down.
    pub publishing_lost: std::sync::atomic::AtomicBool,
    pub metrics: Arc<WorkerMetrics>,
}

/// A channel of its own, with `prefetch` unacked deliveries at most, and a
/// consumer of `queue` on it, tagged `tag` (empty: the broker names it).
/// The channel must live as long as the consumer.
pub async fn open_consumer(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
    tag: &str,
) -> Result<(lapin::Channel, lapin::Consumer), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, lapin::options::BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            tag.into(),
            lapin::options::BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// A window being applied, and how it ended.
type InFlight<'a> =
    std::pin::Pin<Box<dyn Future<Output = (Vec<Delivery>, Settlement)> + Send + 'a>>;

/// Consumes `queue` for `flow` until `stop` (Ok: the windows started are
/// finished first, unless the whole runner is stopping) or until the
/// channel fails (Err).
///
/// Windows are settled in the order they were taken, so one multiple ack per
/// window stays exact with [`Flow::PARALLEL`] windows in flight.
pub async fn consume<F: Flow>(
    runner: &Runner,
    flow: &F,
    queue: &str,
    mut consumer: Consumer,
    limits: Window,
    stop: &CancellationToken,
) -> Result<(), ConsumeError> {
    // Unacked deliveries count against the prefetch: each window in flight
    // gets its share, or the first would hold them all and the second wait.
    let limits = limits.shared_by(F::PARALLEL);
    let mut in_flight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
    let outcome = loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break Ok(()),
            Some((window, settlement)) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(error) = runner.finish::<F>(&window, settlement).await {
                    break Err(error);
                }
            }
            first = consumer.next(), if in_flight.len() < F::PARALLEL => {
                let window = match window::take(&mut consumer, first, limits).await {
                    Ok(window) => window,
                    Err(error) => break Err(error),
                };
                runner.metrics.taken(F::POOL, window.len());
                in_flight.push_back(Box::pin(async move {
                    let settlement = match flow.handle(runner, queue, &window).await {
                        Ok(effects) => runner.settle(F::POOL, effects).await,
                        Err(Abandoned) => Settlement::Abandon,
                    };
                    (window, settlement)
                }));
            }
        }
    };
    // What was started finishes (or abandons itself on shutdown) before the
    // channel closes, so nothing is half-acknowledged.
    while let Some((window, settlement)) = in_flight.next().await {
        if outcome.is_ok() && !runner.stop.is_cancelled() {
            runner.finish::<F>(&window, settlement).await?;
        }
    }
    if runner
        .publishing_lost
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return Err(ConsumeError::PublishingLost);
    }
    outcome
}
