//! Builds the ingest from config and serves it until shutdown.

use crate::broker::Broker;
use crate::config::IngestConfig;
use crate::connections::{next_on, serve_connection};
use crate::group_commit::PointGroups;
use crate::metrics::IngestMetrics;
use crate::routes::{handle, AppState};
use hyper_util::server::graceful::GracefulShutdown;
use shared::admission::{Gate, OverCap};
use shared::cache::ViewCache;
use shared::tasks::Tasks;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid PostgreSQL configuration: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid MongoDB configuration: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Misconfigured(String),
}

pub struct Application {
    /// The public port, with its connection caps.
    gate: Gate,
    /// `/metrics` and the health probes, apart from the public port.
    ops: Option<TcpListener>,
    /// The OsmAnd protocol's port (`OSMAND_LISTEN`), same caps as the public one.
    osmand: Option<Gate>,
    state: Arc<AppState>,
    /// Stopped once in-flight requests drained (they may still publish and
    /// wait for their group and outcome): the group commit first, then the
    /// broker link, then the refresher of device keys and deliveries.
    tasks: Tasks,
    read_timeout: Duration,
    cors_allowed_origins: Vec<String>,
    shutdown: CancellationToken,
}

/// What ingest reports on `METRICS_LISTEN`: ready while the broker link is up.
struct Exposed(Arc<IngestMetrics>);

impl shared::endpoints::Exposed for Exposed {
    fn render(&self) -> String {
        self.0.render()
    }

    fn ready(&self) -> bool {
        self.0.broker_connected.get() == 1
    }
}

/// The stores' clients: none connects before it is used.
struct Stores {
    pool: PgPool,
    cache: ViewCache,
    mongo: mongodb::Client,
}

/// The handles the handlers use beside the stores, and the tasks behind them.
struct Started {
    broker: Broker,
    point_groups: PointGroups,
    credentials: crate::credentials::Credentials,
    limiter: Arc<crate::rate_limit::RateLimiter>,
    reads: crate::reads::Reads,
    near: Arc<crate::near::NearCache>,
    tasks: Tasks,
}

impl Application {
    /// Binds the listener and starts the broker link. Dependencies that are
    /// down do not stop start-up: health reports them and requests degrade.
    pub async fn build(
        config: IngestConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener = bind(config.listen).await?;
        let ops = match config.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        config.auth.announce("ingest");
        let stores = Stores::open(&config).await?;
        let metrics = Arc::new(IngestMetrics::default());
        let started = Started::start(&config, &stores, Arc::clone(&metrics)).await?;
        let gate_of = |listener| {
            Gate::new(
                listener,
                config.max_connections,
                config.max_connections_per_address,
                config.proxies.clone(),
                OverCap::Wait,
            )
        };
        let osmand = match config.osmand_listen {
            Some(addr) => Some(gate_of(bind(addr).await?)),
            None => None,
        };
        let gate = gate_of(listener);
        let (tasks, state) = started.into_state(&config, stores, metrics);
        Ok(Self {
            gate,
            ops,
            osmand,
            state: Arc::new(state),
            tasks,
            read_timeout: config.read_timeout,
            cors_allowed_origins: config.cors_allowed_origins,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.gate
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Where the OsmAnd protocol is served apart, if anywhere.
    pub fn osmand_addr(&self) -> Option<SocketAddr> {
        self.osmand.as_ref().and_then(Gate::local_addr)
    }

    /// Where `/metrics` and the health probes are served, if anywhere.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until the shutdown token fires, then stops accepting, lets
    /// in-flight requests finish (up to a deadline) and closes the broker link.
    /// Stops the same way, and says why, if the broker's topology turns out
    /// not to be this ingest's (another `PACKAGE_SHARDS`).
    pub async fn run(self) -> Result<(), RunError> {
        let addr = self.local_addr();
        let ops_stop = CancellationToken::new();
        let ops_server = self.ops.map(|ops| {
            let exposed = Arc::new(Exposed(Arc::clone(&self.state.metrics)));
            shared::endpoints::serve(ops, exposed, ops_stop.clone())
        });
        let broker = self.state.broker.clone();
        let service = crate::layers::wrap(&self.cors_allowed_origins, {
            let state = Arc::clone(&self.state);
            tower::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
            })
        });
        // Every request on the OsmAnd port is a report, whatever its path.
        let osmand_service = tower::ServiceExt::map_request(
            service.clone(),
            |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(crate::routes::OsmAndPort);
                request
            },
        );
        let graceful = GracefulShutdown::new();
        let osmand_addr = self.osmand.as_ref().and_then(Gate::local_addr);
        tracing::info!(%addr, osmand = ?osmand_addr, "ingest listening");
        let refusal = loop {
            // A slot first (the backlog waits meanwhile), then the socket,
            // then its network's place, before anything is read: one
            // network cannot hold more than its share of the slots.
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break None,
                why = broker.misconfigured() => break Some(why),
                accepted = self.gate.next() => accepted,
                accepted = next_on(self.osmand.as_ref()) => {
                    serve_connection(accepted, osmand_service.clone(), self.read_timeout, &graceful);
                    continue;
                }
            };
            serve_connection(accepted, service.clone(), self.read_timeout, &graceful);
        };
        drop(self.gate);
        drop(self.osmand);
        tracing::info!("ingest draining in-flight requests");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not finish in time");
        }
        self.tasks.stop().await;
        ops_stop.cancel();
        if let Some(server) = ops_server {
            let _ = server.await;
        }
        tracing::info!("ingest stopped");
        refusal.map_or(Ok(()), |why| Err(RunError::Misconfigured(why)))
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })
}

impl Stores {
    async fn open(config: &IngestConfig) -> Result<Self, StartupError> {
        let common = &config.common;
        let pool = shared::db::lazy_pool(&common.database_url, common.database_max_connections)?;
        let cache = ViewCache::new(&common.redis_target(), &common.redis_prefix)?;
        let mut options = mongodb::options::ClientOptions::parse(&common.mongodb_url).await?;
        options.server_selection_timeout = Some(Duration::from_secs(2));
        options.connect_timeout = Some(Duration::from_secs(2));
        options.app_name = Some("delivertrack-ingest".into());
        let mongo = mongodb::Client::with_options(options)?;
        Ok(Self { pool, cache, mongo })
    }
}

/// Where package reads go: the read replica's watcher when there is one.
fn reads(
    config: &IngestConfig,
    stores: &Stores,
    metrics: &Arc<IngestMetrics>,
    tasks: &mut Tasks,
) -> Result<crate::reads::Reads, StartupError> {
    let common = &config.common;
    let Some(url) = &common.database_read_url else {
        return Ok(crate::reads::Reads::primary_only(
            stores.pool.clone(),
            stores.cache.clone(),
            Arc::clone(metrics),
        ));
    };
    let replica = shared::db::lazy_pool(url, common.database_max_connections)?;
    let stop = CancellationToken::new();
    let (reads, watcher) = crate::reads::Reads::with_replica(
        stores.pool.clone(),
        replica,
        config.read_max_lag,
        stores.cache.clone(),
        Arc::clone(metrics),
        stop.clone(),
    );
    tasks.add("read replica watcher", stop, watcher);
    Ok(reads)
}

impl Started {
    /// The broker link (waited for a moment: writes answer 503 until it is
    /// up), the group commit of location posts, and the refresher of what
    /// is remembered about callers.
    async fn start(
        config: &IngestConfig,
        stores: &Stores,
        metrics: Arc<IngestMetrics>,
    ) -> Result<Self, StartupError> {
        let common = &config.common;
        let mut tasks = Tasks::new();
        let reads = reads(config, stores, &metrics, &mut tasks)?;
        let broker_stop = CancellationToken::new();
        let (broker, broker_supervisor) = Broker::start(
            &common.brokers,
            common.topology.clone(),
            common.signing.clone(),
            config.confirm_timeout,
            metrics,
            broker_stop.clone(),
        );
        if !broker.wait_connected(Duration::from_secs(5)).await {
            tracing::warn!("RabbitMQ not reachable yet; writes answer 503 until it is");
        }
        let groups_stop = CancellationToken::new();
        let (point_groups, point_grouper) =
            PointGroups::start(broker.clone(), config.group_commit, groups_stop.clone());
        let limiter = Arc::new(crate::rate_limit::RateLimiter::new(stores.cache.clone()));
        let credentials = crate::credentials::Credentials::new(
            stores.pool.clone(),
            stores.cache.clone(),
            Arc::clone(&limiter),
            config.rate_limits.key_misses,
        );
        let credentials_stop = CancellationToken::new();
        let refresher = credentials.spawn_refresher(credentials_stop.clone());
        let near = Arc::new(crate::near::NearCache::new(config.near_cache_bytes));
        if near.is_on() {
            let listener = crate::near::listen::Listener {
                near: Arc::clone(&near),
                target: common.redis_target(),
                channel: stores.cache.invalidations_channel(),
                views: stores.cache.clone(),
            };
            let near_stop = CancellationToken::new();
            let listening = tokio::spawn(listener.run(near_stop.clone()));
            tasks.add("near cache listener", near_stop, listening);
        }
        // Added in reverse of the order they stop in.
        tasks.add("credentials refresher", credentials_stop, refresher);
        tasks.add("broker link", broker_stop, broker_supervisor);
        tasks.add("group commit", groups_stop, point_grouper);
        Ok(Self {
            broker,
            point_groups,
            credentials,
            limiter,
            reads,
            near,
            tasks,
        })
    }

    /// The handlers' shared state, and the tasks to stop.
    fn into_state(
        self,
        config: &IngestConfig,
        stores: Stores,
        metrics: Arc<IngestMetrics>,
    ) -> (Tasks, AppState) {
        let common = &config.common;
        let queues = crate::queues::QueueStats::new(
            self.broker.clone(),
            common.topology.clone(),
            config.rabbitmq_management_url.clone(),
            common.brokers.first(),
        );
        let hashing = shared::auth::password::Hashing::new(
            config.password_hashes_at_once,
            shared::auth::password::QUEUE_WAIT,
        );
        let state = AppState {
            sign_in_delays: shared::auth::sign_in_delay::SignInDelays::new(stores.cache.clone()),
            pool: stores.pool,
            cache: stores.cache,
            near: self.near,
            broker: self.broker,
            mongo: stores.mongo,
            mongo_database: common.mongodb_database.clone(),
            outcome_timeout: config.outcome_timeout,
            body: crate::http::request::BodyLimits {
                max_bytes: config.max_body_bytes,
                read_timeout: config.read_timeout,
                budget: crate::http::request::BodyBudget::new(config.body_memory_budget),
            },
            point_rules: config.locations,
            presence: config.presence,
            openapi: bytes::Bytes::from(crate::openapi::json()),
            point_groups: self.point_groups,
            auth: config.auth.clone(),
            credentials: self.credentials,
            limiter: self.limiter,
            reads: self.reads,
            limits: config.rate_limits,
            signing: common.signing.clone(),
            refresh_ttl: config.refresh_ttl,
            hashing: Arc::new(hashing),
            proxies: config.proxies.clone(),
            metrics,
            queues,
            web: config.web.clone(),
            webhooks: config.webhooks.clone(),
        };
        (self.tasks, state)
    }
}
