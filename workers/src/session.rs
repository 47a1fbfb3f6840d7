//! One session on the broker: a consuming and a publishing connection, the
//! topology declared, every consumer of this process running on it. Any
//! consumer that loses its channel ends the session; [`crate::startup`]
//! reconnects.

use crate::config::WorkerConfig;
use crate::invalidator::Invalidator;
use crate::locations::flow::LocationFlow;
use crate::locations::projection::ProjectionNudge;
use crate::locations::LocationStore;
use crate::metrics::WorkerMetrics;
use crate::packages::flow::PackageFlow;
use crate::publisher::Publisher;
use crate::runner::{consume, open_consumer, ConsumeError, Flow, Runner, Window};
use crate::shards::keeper::Keeper;
use lapin::Connection;
use shared::topology::DeclareError;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// About how many payload bytes one window may hold (a 1,000-point batch is
/// about 150 KB).
const WINDOW_BYTES: usize = 8 << 20;

/// How many mails one consumer sends at once.
pub const MAIL_CONCURRENCY: u16 = 8;

/// The stores every consumer shares.
pub struct Stores {
    pub pool: sqlx::PgPool,
    pub invalidator: Invalidator,
    pub locations: LocationStore,
    pub projection: ProjectionNudge,
    pub metrics: Arc<WorkerMetrics>,
    /// How the mail pool sends, when it runs.
    pub mailer: Option<Arc<crate::mail::consumer::Mailer>>,
    /// The webhook pool, when it runs.
    pub webhooks: Option<Arc<crate::webhooks::Pool>>,
    /// The package shards this replica should consume, and does.
    pub share: crate::shards::Share,
}

/// The consumers of one session, each owning its channel.
type Consumers = JoinSet<Result<(), ConsumeError>>;

/// Why a session on the broker ended: the pool reconnects (unless the
/// topology is misconfigured).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Declare(#[from] DeclareError),
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    #[error("a consumer task panicked: {0}")]
    Panicked(String),
}

/// A window as big as the channel's prefetch allows.
fn window_limits(config: &WorkerConfig, prefetch: u16) -> Window {
    Window {
        max_messages: usize::from(prefetch.max(1)),
        max_bytes: WINDOW_BYTES,
        linger: config.window_linger,
    }
}

/// Consumes on one connection and publishes on another: a broker alarm
/// blocks the connections that publish, and acks must not wait behind it.
pub async fn run_connected(
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let brokers = &config.common.brokers;
    let consuming = Arc::new(brokers.connect("delivertrack-workers").await?);
    let publishing = match brokers.connect("delivertrack-workers-publish").await {
        Ok(connection) => Arc::new(connection),
        Err(error) => {
            let _ = consuming.close(200, "worker reconnecting".into()).await;
            return Err(error.into());
        }
    };
    stores.metrics.broker_connected.set(1);
    let result = consume_all(&consuming, &publishing, config, stores, shutdown).await;
    stores.metrics.broker_connected.set(0);
    // Closing returns every unacked delivery to its queue.
    let _ = consuming.close(200, "worker stopping".into()).await;
    let _ = publishing.close(200, "worker stopping".into()).await;
    result
}

async fn consume_all(
    connection: &Arc<Connection>,
    publishing: &Arc<Connection>,
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let topology = &config.common.topology;
    topology.declare(connection).await?;
    let runner = Arc::new(Runner {
        invalidator: stores.invalidator.clone(),
        topology: topology.clone(),
        keys: config.common.signing.clone(),
        publisher: Publisher::open(
            Arc::clone(publishing),
            topology.clone(),
            config.confirm_timeout,
        )
        .await?,
        stop: shutdown.child_token(),
        publishing_lost: Default::default(),
        metrics: Arc::clone(&stores.metrics),
    });
    let mut consumers = Consumers::new();
    if let Some(mailer) = &stores.mailer {
        spawn_mail(&mut consumers, connection, &runner, config, mailer).await?;
    }
    if let Some(webhooks) = &stores.webhooks {
        spawn_webhooks(&mut consumers, connection, &runner, config, webhooks).await?;
    }
    if config.run_packages {
        spawn_packages(&mut consumers, connection, &runner, config, stores);
    }
    if config.run_locations {
        spawn_locations(&mut consumers, connection, &runner, config, stores).await?;
    }
    tracing::info!(
        packages = config.run_packages,
        locations = config.run_locations,
        mail = config.run_mail,
        webhooks = stores.webhooks.is_some(),
        shards = %config.shards,
        "workers consuming"
    );
    let mut outcome = Ok(());
    while let Some(joined) = consumers.join_next().await {
        let result = joined.map_err(|panic| SessionError::Panicked(panic.to_string()));
        if let Err(error) = result.and_then(|consumed| Ok(consumed?)) {
            // One consumer lost its channel: stop the siblings and reconnect all.
            runner.stop.cancel();
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    outcome
}

/// The mail pool: the mail queue's sender, and the window runner turning
/// status changes into recipient mail.
async fn spawn_mail(
    consumers: &mut Consumers,
    connection: &Arc<Connection>,
    runner: &Arc<Runner>,
    config: &WorkerConfig,
    mailer: &Arc<crate::mail::consumer::Mailer>,
) -> Result<(), lapin::Error> {
    let notices = Arc::new(crate::mail::recipients::notices::RecipientNotices {
        pool: mailer.pool.clone(),
    });
    let queue = runner.topology.mail_recipients_queue();
    let window = window_limits(config, 64);
    spawn_flow(consumers, connection, runner, &notices, queue, window).await?;
    let queue = runner.topology.mail_queue();
    let (channel, consumer) = open_consumer(connection, &queue, MAIL_CONCURRENCY, "").await?;
    let (runner, mailer) = (Arc::clone(runner), Arc::clone(mailer));
    consumers.spawn(async move {
        let result = crate::mail::consumer::consume(&runner, &mailer, &queue, consumer).await;
        drop(channel);
        Ok(result?)
    });
    Ok(())
}

/// The webhook pool: its fan-out (a window runner like the others), its
/// sender, and the task keeping its `location` binding in step.
async fn spawn_webhooks(
    consumers: &mut Consumers,
    connection: &Arc<Connection>,
    runner: &Arc<Runner>,
    config: &WorkerConfig,
    pool: &Arc<crate::webhooks::Pool>,
) -> Result<(), lapin::Error> {
    let fanout = Arc::new(crate::webhooks::fanout::FanOut {
        pool: Arc::clone(pool),
    });
    let window = window_limits(config, 256);
    let events = runner.topology.webhook_events_queue();
    spawn_flow(consumers, connection, runner, &fanout, events, window).await?;
    let queue = runner.topology.webhook_send_queue();
    let prefetch = pool.settings.concurrency.max(1);
    let (channel, consumer) = open_consumer(connection, &queue, prefetch, "").await?;
    let (sender_runner, sender_pool) = (Arc::clone(runner), Arc::clone(pool));
    consumers.spawn(async move {
        let result =
            crate::webhooks::sender::consume(&sender_runner, &sender_pool, &queue, consumer).await;
        drop(channel);
        Ok(result?)
    });
    let keeper = crate::webhooks::bindings::keep(
        Arc::clone(connection),
        runner.topology.clone(),
        Arc::clone(pool),
        runner.stop.clone(),
    );
    consumers.spawn(async move { Ok(keeper.await?) });
    Ok(())
}

/// The package shards of this replica's share, kept by a [`Keeper`].
fn spawn_packages(
    consumers: &mut Consumers,
    connection: &Arc<Connection>,
    runner: &Arc<Runner>,
    config: &WorkerConfig,
    stores: &Stores,
) {
    let keeper = Keeper {
        connection: Arc::clone(connection),
        runner: Arc::clone(runner),
        flow: Arc::new(PackageFlow {
            pool: stores.pool.clone(),
            zones: crate::geofences::ZoneWriter {
                zones: stores.locations.geofences.clone(),
                pool: stores.pool.clone(),
            },
        }),
        window: window_limits(config, config.prefetch),
        share: stores.share.clone(),
    };
    consumers.spawn(keeper.run());
}

async fn spawn_locations(
    consumers: &mut Consumers,
    connection: &Connection,
    runner: &Arc<Runner>,
    config: &WorkerConfig,
    stores: &Stores,
) -> Result<(), lapin::Error> {
    let flow = Arc::new(LocationFlow {
        pool: stores.pool.clone(),
        store: stores.locations.clone(),
        projection: stores.projection.clone(),
        unknown_package_retry: config.unknown_package_retry,
        geofencing: crate::geofences::Geofencing {
            pool: stores.pool.clone(),
            zones: crate::geofences::ZoneCache::new(stores.locations.geofences.clone()),
            order: Default::default(),
        },
        arrivals: crate::arrivals::Arrivals {
            pool: stores.pool.clone(),
            routing: config.routing_url.as_deref().and_then(|url| {
                crate::arrivals::routing::Routing::new(url, config.routing_timeout)
            }),
        },
    });
    let queue = runner.topology.locations_queue();
    let window = window_limits(config, config.location_prefetch);
    spawn_flow(consumers, connection, runner, &flow, queue, window).await?;
    // The presence sweep publishes with this session's publisher and ends with it.
    let sweeper = crate::locations::couriers::presence::Sweeper {
        pool: stores.pool.clone(),
        rules: config.presence,
        runner: Arc::clone(runner),
    };
    consumers.spawn(async move {
        sweeper.run().await;
        Ok(())
    });
    // So is the late sweep.
    let late = crate::arrivals::late::LateSweeper {
        pool: stores.pool.clone(),
        every: config.late_sweep_every,
        runner: Arc::clone(runner),
    };
    consumers.spawn(async move {
        late.run().await;
        Ok(())
    });
    Ok(())
}

/// One consumer of `queue` for `flow`, on a channel of its own whose
/// prefetch is the window's size.
async fn spawn_flow<F: Flow + 'static>(
    consumers: &mut Consumers,
    connection: &Connection,
    runner: &Arc<Runner>,
    flow: &Arc<F>,
    queue: String,
    window: Window,
) -> Result<(), lapin::Error> {
    let prefetch = u16::try_from(window.max_messages).unwrap_or(u16::MAX);
    let (channel, consumer) = open_consumer(connection, &queue, prefetch, "").await?;
    let (runner, flow) = (Arc::clone(runner), Arc::clone(flow));
    consumers.spawn(async move {
        let result = consume(&runner, &*flow, &queue, consumer, window, &runner.stop).await;
        drop(channel);
        result
    });
    Ok(())
}
