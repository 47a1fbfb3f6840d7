//! Builds the worker pools from config and keeps them connected until shutdown.

use crate::config::WorkerConfig;
use crate::invalidator::Invalidator;
use crate::locations::flow::LocationFlow;
use crate::locations::projection::{ProjectionNudge, Projector};
use crate::locations::{ensure_indexes, LocationStore};
use crate::metrics::WorkerMetrics;
use crate::packages::flow::PackageFlow;
use crate::publisher::Publisher;
use crate::runner::{consume, ConsumeError, Runner, Window};
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use shared::backoff::{retry, sleep_unless_cancelled, Backoff, RetryError};
use shared::cache::ViewCache;
use shared::tasks::Tasks;
use shared::topology::DeclareError;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid PostgreSQL configuration: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid MongoDB configuration: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("cannot serve metrics on {addr} (METRICS_LISTEN; each workers process on a host needs its own): {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The broker's topology disagrees with this worker's configuration.
    #[error(transparent)]
    Topology(DeclareError),
    #[error("invalid SMTP_URL: {0}")]
    Mail(String),
}

/// About how many payload bytes one window may hold (a 1,000-point batch is
/// about 150 KB).
const WINDOW_BYTES: usize = 8 << 20;

/// The stores every consumer shares.
struct Stores {
    pool: sqlx::PgPool,
    invalidator: Invalidator,
    locations: LocationStore,
    projection: ProjectionNudge,
    metrics: Arc<WorkerMetrics>,
    /// How the mail pool sends, when it runs.
    mailer: Option<Arc<crate::mail::consumer::Mailer>>,
}

/// How many mails one consumer sends at once.
const MAIL_CONCURRENCY: u16 = 8;

fn mailer(
    config: &WorkerConfig,
) -> Result<Option<Arc<crate::mail::consumer::Mailer>>, StartupError> {
    if !config.run_mail {
        return Ok(None);
    }
    let settings = &config.mail;
    let transport = crate::mail::transport::Transport::from_url(&settings.smtp_url)
        .map_err(|e| StartupError::Mail(e.to_string()))?;
    if matches!(transport, crate::mail::transport::Transport::Log) {
        tracing::warn!("SMTP_URL=log: mails are written to the log, not sent");
    }
    Ok(Some(Arc::new(crate::mail::consumer::Mailer {
        transport,
        from: settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| StartupError::Mail(e.to_string()))?,
        public_url: settings.public_url.clone(),
        max_attempts: settings.max_attempts,
        concurrency: usize::from(MAIL_CONCURRENCY),
    })))
}

/// Runs the worker pools until `shutdown` is cancelled. Broker and database
/// outages are waited out, not fatal.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), StartupError> {
    let metrics = Arc::new(WorkerMetrics::default());
    let metrics_stop = CancellationToken::new();
    let metrics_server = match config.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Metrics { addr, source })?;
            tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics and health served");
            Some(crate::metrics::serve(
                listener,
                Arc::clone(&metrics),
                metrics_stop.clone(),
            ))
        }
        None => None,
    };
    let result = run_pools(config, &metrics, &shutdown).await;
    metrics_stop.cancel();
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    result
}

async fn run_pools(
    config: WorkerConfig,
    metrics: &Arc<WorkerMetrics>,
    shutdown: &CancellationToken,
) -> Result<(), StartupError> {
    let shutdown = shutdown.clone();
    let mailer = mailer(&config)?;
    let pool = shared::db::lazy_pool(
        &config.common.database_url,
        config.common.database_max_connections,
    )?;
    let cache = ViewCache::new(&config.common.redis_url, &config.common.redis_prefix)?;
    let waiting = || Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let migrated = retry(
        waiting(),
        &shutdown,
        "migrating PostgreSQL",
        || shared::db::migrate(&pool),
        |error| matches!(error, sqlx::migrate::MigrateError::Execute(e) if crate::packages::is_transient(e)),
    )
    .await;
    match migrated {
        Ok(()) => {}
        Err(RetryError::Cancelled) => return Ok(()),
        Err(RetryError::Permanent(error)) => return Err(error.into()),
    }
    if let (true, Some(admin)) = (config.run_packages, &config.bootstrap_admin) {
        let ensured = retry(
            waiting(),
            &shutdown,
            "creating the bootstrap admin",
            || crate::bootstrap::ensure_admin(&pool, admin),
            crate::packages::is_transient,
        )
        .await;
        match ensured {
            Ok(()) => {}
            Err(RetryError::Cancelled) => return Ok(()),
            Err(RetryError::Permanent(error)) => return Err(error.into()),
        }
    }
    let mongo = mongodb::Client::with_uri_str(&config.common.mongodb_url).await?;
    let locations = LocationStore::new(&mongo.database(&config.common.mongodb_database));
    if config.run_locations {
        let indexed = retry(
            waiting(),
            &shutdown,
            "creating MongoDB indexes",
            || ensure_indexes(&locations),
            |_| true,
        )
        .await;
        if indexed.is_err() {
            return Ok(());
        }
    }
    let invalidations_stop = CancellationToken::new();
    let (invalidator, invalidations) = Invalidator::start(cache, invalidations_stop.clone());
    // The projection outlives the consumers, like the invalidations: it
    // stops after them, and what it leaves marked the next start projects.
    let projection_stop = CancellationToken::new();
    // Stopped after the consumers, the invalidations last: the others
    // may still ask for some on their way out.
    let mut tasks = Tasks::new();
    tasks.add("invalidations", invalidations_stop, invalidations);
    let projection = if config.run_locations {
        let (nudge, task) = Projector {
            pool: pool.clone(),
            store: locations.clone(),
            batch: config.latest_positions_batch,
            interval: Duration::from_secs(1),
        }
        .spawn(projection_stop.clone());
        tasks.add("latest positions", projection_stop, task);
        nudge
    } else {
        ProjectionNudge::default()
    };
    if config.run_packages {
        let prune_stop = CancellationToken::new();
        let pruner = crate::packages::prune::spawn(pool.clone(), prune_stop.clone());
        tasks.add("pruner", prune_stop, pruner);
    }
    let stores = Stores {
        pool: pool.clone(),
        invalidator,
        locations,
        projection,
        metrics: Arc::clone(metrics),
        mailer,
    };

    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut misconfigured = None;
    while !shutdown.is_cancelled() {
        match run_connected(&config, &stores, &shutdown).await {
            Ok(()) => break,
            Err(SessionError::Declare(error @ DeclareError::ShardsMismatch { .. })) => {
                // Said once, by the process on its way out (main).
                misconfigured = Some(error);
                break;
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "broker connection failed; reconnecting");
                if !sleep_unless_cancelled(delay, &shutdown).await {
                    break;
                }
            }
        }
    }
    tasks.stop().await;
    pool.close().await;
    tracing::info!("workers stopped");
    misconfigured.map_or(Ok(()), |error| Err(StartupError::Topology(error)))
}

/// Why a session on the broker ended: the pool reconnects (unless the
/// topology is misconfigured).
#[derive(Debug, thiserror::Error)]
enum SessionError {
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
async fn run_connected(
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let url = &config.common.amqp_url;
    let consuming = shared::amqp::connect(url, "delivertrack-workers").await?;
    let publishing = match shared::amqp::connect(url, "delivertrack-workers-publish").await {
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

/// A channel of its own, with `prefetch` unacked deliveries at most, and a
/// consumer of `queue` on it (the channel must live as long as the consumer).
async fn open_consumer(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
) -> Result<(lapin::Channel, lapin::Consumer), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

async fn consume_all(
    connection: &Connection,
    publishing: &Arc<Connection>,
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let topology = &config.common.topology;
    topology
        .declare(&connection.create_channel().await?)
        .await?;
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
        metrics: Arc::clone(&stores.metrics),
    });
    let mut consumers: JoinSet<Result<(), ConsumeError>> = JoinSet::new();
    if let Some(mailer) = &stores.mailer {
        let queue = topology.mail_queue();
        let (channel, consumer) = open_consumer(connection, &queue, MAIL_CONCURRENCY).await?;
        let (runner, mailer) = (Arc::clone(&runner), Arc::clone(mailer));
        consumers.spawn(async move {
            let result = crate::mail::consumer::consume(&runner, &mailer, &queue, consumer).await;
            drop(channel);
            Ok(result?)
        });
    }
    if config.run_packages {
        let flow = Arc::new(PackageFlow {
            pool: stores.pool.clone(),
        });
        for &shard in &config.shards {
            let queue = topology.package_queue(shard);
            let limits = window_limits(config, config.prefetch);
            let (channel, consumer) =
                open_consumer(connection, &queue, config.prefetch.max(1)).await?;
            let (runner, flow) = (Arc::clone(&runner), Arc::clone(&flow));
            consumers.spawn(async move {
                let result = consume(&runner, &*flow, &queue, consumer, limits).await;
                drop(channel);
                result
            });
        }
    }
    if config.run_locations {
        let flow = LocationFlow {
            pool: stores.pool.clone(),
            store: stores.locations.clone(),
            projection: stores.projection.clone(),
            unknown_package_retry: config.unknown_package_retry,
        };
        let queue = topology.locations_queue();
        let limits = window_limits(config, config.location_prefetch);
        let (channel, consumer) =
            open_consumer(connection, &queue, config.location_prefetch.max(1)).await?;
        let runner = Arc::clone(&runner);
        consumers.spawn(async move {
            let result = consume(&runner, &flow, &queue, consumer, limits).await;
            drop(channel);
            result
        });
    }
    tracing::info!(
        packages = config.run_packages,
        locations = config.run_locations,
        mail = config.run_mail,
        shards = ?config.shards,
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
