//! Builds the worker pools from config and keeps them connected until shutdown.

use crate::config::{ShardChoice, WorkerConfig};
use crate::invalidator::Invalidator;
use crate::locations::projection::{ProjectionNudge, Projector};
use crate::locations::{ensure_indexes, LocationStore};
use crate::metrics::WorkerMetrics;
use crate::session::{run_connected, SessionError, Stores, MAIL_CONCURRENCY};
use crate::shards::heartbeat::{member_id, Heartbeat};
use crate::shards::Share;
use shared::backoff::{retry, sleep_unless_cancelled, Backoff, RetryError};
use shared::cache::ViewCache;
use shared::tasks::Tasks;
use shared::topology::DeclareError;
use std::sync::Arc;
use std::time::Duration;
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
    #[error("cannot build the webhook client: {0}")]
    WebhookClient(#[from] reqwest::Error),
    /// The broker's topology disagrees with this worker's configuration.
    #[error(transparent)]
    Topology(DeclareError),
    #[error("invalid SMTP_URL: {0}")]
    Mail(String),
}

fn mailer(
    config: &WorkerConfig,
    pool: &sqlx::PgPool,
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
        pool: pool.clone(),
        recipient_daily_cap: settings.recipient_daily_cap,
        recipient_eta_wait: settings.recipient_eta_wait,
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
    let pool = shared::db::lazy_pool(
        &config.common.database_url,
        config.common.database_max_connections,
    )?;
    let mailer = mailer(&config, &pool)?;
    let cache = ViewCache::new(&config.common.redis_target(), &config.common.redis_prefix)?;
    let mongo = mongodb::Client::with_uri_str(&config.common.mongodb_url).await?;
    let locations = LocationStore::new(&mongo.database(&config.common.mongodb_database));
    match prepare(&config, &pool, &locations, shutdown).await {
        Ok(()) => {}
        Err(RetryError::Cancelled) => return Ok(()),
        Err(RetryError::Permanent(error)) => return Err(error),
    }
    let mut tasks = Tasks::new();
    let share = share(&config, metrics, &mut tasks)?;
    let stores = Stores {
        pool: pool.clone(),
        invalidator: start_invalidations(cache, &mut tasks),
        projection: ProjectionNudge::default(),
        locations,
        metrics: Arc::clone(metrics),
        mailer,
        webhooks: match &config.webhooks {
            Some(webhooks) => Some(Arc::new(crate::webhooks::Pool::new(
                pool.clone(),
                webhooks.secrets.clone(),
                webhooks.settings.clone(),
            )?)),
            None => None,
        },
        share,
    };
    let stores = start_background(&config, stores, &mut tasks);
    let misconfigured = stay_connected(&config, &stores, shutdown).await;
    tasks.stop().await;
    pool.close().await;
    tracing::info!("workers stopped");
    misconfigured.map_or(Ok(()), |error| Err(StartupError::Topology(error)))
}

/// What must be in place before anything is consumed: the schema, the
/// first admin, MongoDB's indexes. Outages are waited out.
async fn prepare(
    config: &WorkerConfig,
    pool: &sqlx::PgPool,
    locations: &LocationStore,
    shutdown: &CancellationToken,
) -> Result<(), RetryError<StartupError>> {
    let waiting = || Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    retry(
        waiting(),
        shutdown,
        "migrating PostgreSQL",
        || shared::db::migrate(pool),
        |error| matches!(error, sqlx::migrate::MigrateError::Execute(e) if crate::packages::is_transient(e)),
    )
    .await
    .map_err(|e| e.map(StartupError::from))?;
    if let (true, Some(admin)) = (config.run_packages, &config.bootstrap_admin) {
        retry(
            waiting(),
            shutdown,
            "creating the bootstrap admin",
            || crate::bootstrap::ensure_admin(pool, admin),
            crate::packages::is_transient,
        )
        .await
        .map_err(|e| e.map(StartupError::from))?;
    }
    if config.run_locations || config.run_packages {
        retry(
            waiting(),
            shutdown,
            "creating MongoDB indexes",
            || ensure_indexes(locations),
            |_| true,
        )
        .await
        .map_err(|_| RetryError::Cancelled)?;
    }
    Ok(())
}

/// The package shards this replica consumes: its share of the pool's, kept
/// by a heartbeat (`WORKER_SHARDS=auto`), or a fixed list. The heartbeat
/// is stopped (and leaves the pool) after the consumers: the row says this
/// replica holds its shards until it no longer does.
fn share(
    config: &WorkerConfig,
    metrics: &Arc<WorkerMetrics>,
    tasks: &mut Tasks,
) -> Result<Share, StartupError> {
    match (&config.shards, config.run_packages) {
        (_, false) => Ok(Share::fixed([])),
        (ShardChoice::Fixed(shards), true) => Ok(Share::fixed(shards.iter().copied())),
        (ShardChoice::Shared, true) => {
            let stop = CancellationToken::new();
            let (share, task) = Heartbeat {
                pool: shared::db::lazy_pool(&config.common.database_url, 1)?,
                member: member_id(config.worker_id.as_deref()),
                shards: config.common.topology.package_shards(),
                metrics: Arc::clone(metrics),
            }
            .spawn(stop.clone());
            tasks.add("package pool heartbeat", stop, task);
            Ok(share)
        }
    }
}

/// Marking cached views stale, retried until Redis takes it. Stopped after
/// the other tasks: they may still ask for some on their way out.
fn start_invalidations(cache: ViewCache, tasks: &mut Tasks) -> Invalidator {
    let stop = CancellationToken::new();
    let (invalidator, task) = Invalidator::start(cache, stop.clone());
    tasks.add("invalidations", stop, task);
    invalidator
}

/// The tasks that outlive broker sessions besides: the latest positions'
/// projection, the pruner. Stopped after the consumers.
fn start_background(config: &WorkerConfig, mut stores: Stores, tasks: &mut Tasks) -> Stores {
    // What the projection leaves marked when it stops, the next start projects.
    if config.run_locations {
        let projection_stop = CancellationToken::new();
        let (nudge, task) = Projector {
            pool: stores.pool.clone(),
            store: stores.locations.clone(),
            batch: config.latest_positions_batch,
            interval: Duration::from_secs(1),
        }
        .spawn(projection_stop.clone());
        tasks.add("latest positions", projection_stop, task);
        stores.projection = nudge;
    }
    if config.run_packages {
        let prune_stop = CancellationToken::new();
        let pruner = crate::accounts::prune::spawn(stores.pool.clone(), prune_stop.clone());
        tasks.add("pruner", prune_stop, pruner);
        let fold_stop = CancellationToken::new();
        let folder = crate::packages::counts::spawn(stores.pool.clone(), fold_stop.clone());
        tasks.add("package counts", fold_stop, folder);
        let log_stop = CancellationToken::new();
        let log_pruner = crate::packages::change_log::spawn(stores.pool.clone(), log_stop.clone());
        tasks.add("package change log", log_stop, log_pruner);
    }
    stores
}

/// How long a session has, once shutdown is asked, to finish the windows it
/// started. Past it the session is dropped: its connections close, and what
/// it held unacked goes back to its queues (stored work is not stored twice,
/// as after a crash). Within the deployments' 45 s grace, with room to spare.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// One broker session, which a shutdown ends within [`STOP_GRACE`] even
/// where it waits on the broker (a node restarting, a quorum queue without
/// a leader) and cannot see the shutdown itself.
async fn session_until_stopped(
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let session = run_connected(config, stores, shutdown);
    tokio::pin!(session);
    tokio::select! {
        result = &mut session => return result,
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(STOP_GRACE, session).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(grace = ?STOP_GRACE, "the broker session did not stop in time; dropped (its unacked deliveries go back to their queues)");
            Ok(())
        }
    }
}

/// Runs broker sessions until shutdown, reconnecting with backoff; stops
/// early, with the reason, if the broker's topology is not this worker's.
async fn stay_connected(
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Option<DeclareError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    while !shutdown.is_cancelled() {
        match session_until_stopped(config, stores, shutdown).await {
            Ok(()) => break,
            Err(SessionError::Declare(error @ DeclareError::ShardsMismatch { .. })) => {
                // Said once, by the process on its way out (main).
                return Some(error);
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "broker connection failed; reconnecting");
                if !sleep_unless_cancelled(delay, shutdown).await {
                    break;
                }
            }
        }
    }
    None
}
