//! Builds the ingest from config and serves it until shutdown.

use crate::broker::Broker;
use crate::config::IngestConfig;
use crate::group_commit::PointGroups;
use crate::metrics::IngestMetrics;
use crate::routes::{handle, AppState, PeerAddr};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use shared::cache::ViewCache;
use shared::tasks::Tasks;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    listener: TcpListener,
    /// `/metrics` and the health probes, apart from the public port.
    ops: Option<TcpListener>,
    state: Arc<AppState>,
    /// Stopped once in-flight requests drained (they may still publish and
    /// wait for their group and outcome): the group commit first, then the
    /// broker link, then the refresher of device keys and deliveries.
    tasks: Tasks,
    max_connections: usize,
    per_network: Arc<shared::admission::Places>,
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

impl Application {
    /// Binds the listener and starts the broker link. Dependencies that are
    /// down do not stop start-up: health reports them and requests degrade.
    pub async fn build(
        config: IngestConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let ops = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::Listen { addr, source })?,
            ),
            None => None,
        };
        config.auth.announce("ingest");
        let common = &config.common;
        let pool = shared::db::lazy_pool(&common.database_url, common.database_max_connections)?;
        let cache = ViewCache::new(&common.redis_url, &common.redis_prefix)?;
        let mut mongo_options = mongodb::options::ClientOptions::parse(&common.mongodb_url).await?;
        mongo_options.server_selection_timeout = Some(Duration::from_secs(2));
        mongo_options.connect_timeout = Some(Duration::from_secs(2));
        mongo_options.app_name = Some("delivertrack-ingest".into());
        let mongo = mongodb::Client::with_options(mongo_options)?;
        let metrics = Arc::new(IngestMetrics::default());
        let broker_stop = CancellationToken::new();
        let (broker, broker_supervisor) = Broker::start(
            &common.amqp_url,
            common.topology.clone(),
            common.signing.clone(),
            config.confirm_timeout,
            Arc::clone(&metrics),
            broker_stop.clone(),
        );
        if !broker.wait_connected(Duration::from_secs(5)).await {
            tracing::warn!("RabbitMQ not reachable yet; writes answer 503 until it is");
        }
        let groups_stop = CancellationToken::new();
        let (point_groups, point_grouper) =
            PointGroups::start(broker.clone(), config.group_commit, groups_stop.clone());
        let limiter = Arc::new(crate::rate_limit::RateLimiter::new(cache.clone()));
        let credentials = crate::credentials::Credentials::new(
            pool.clone(),
            cache.clone(),
            Arc::clone(&limiter),
            config.rate_limits.key_misses,
        );
        let credentials_stop = CancellationToken::new();
        let credentials_refresher = credentials.spawn_refresher(credentials_stop.clone());
        // Added in reverse of the order they stop in.
        let mut tasks = Tasks::new();
        tasks.add(
            "credentials refresher",
            credentials_stop,
            credentials_refresher,
        );
        tasks.add("broker link", broker_stop, broker_supervisor);
        tasks.add("group commit", groups_stop, point_grouper);
        let sign_in_delays = shared::auth::sign_in_delay::SignInDelays::new(cache.clone());
        let queues = crate::queues::QueueStats::new(
            broker.clone(),
            common.topology.clone(),
            config.rabbitmq_management_url.clone(),
            &common.amqp_url,
        );
        let state = Arc::new(AppState {
            pool,
            cache,
            broker,
            mongo,
            mongo_database: common.mongodb_database.clone(),
            outcome_timeout: config.outcome_timeout,
            body: crate::http::request::BodyLimits {
                max_bytes: config.max_body_bytes,
                read_timeout: config.read_timeout,
                budget: crate::http::request::BodyBudget::new(config.body_memory_budget),
            },
            point_rules: config.locations,
            openapi: bytes::Bytes::from(crate::openapi::json()),
            point_groups,
            auth: config.auth.clone(),
            credentials,
            limiter,
            limits: config.rate_limits,
            signing: common.signing.clone(),
            refresh_ttl: config.refresh_ttl,
            hashing: std::sync::Arc::new(shared::auth::password::Hashing::new(
                config.password_hashes_at_once,
                shared::auth::password::QUEUE_WAIT,
            )),
            sign_in_delays,
            proxies: config.proxies.clone(),
            metrics,
            queues,
            web: config.web.clone(),
        });
        Ok(Self {
            listener,
            ops,
            per_network: shared::admission::Places::new(config.max_connections_per_address),
            state,
            tasks,
            max_connections: config.max_connections,
            read_timeout: config.read_timeout,
            cors_allowed_origins: config.cors_allowed_origins,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
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
        let Self {
            listener,
            ops,
            per_network,
            state,
            tasks,
            max_connections,
            read_timeout,
            cors_allowed_origins,
            shutdown,
        } = self;
        let ops_stop = CancellationToken::new();
        let ops_server = ops.map(|ops| {
            shared::endpoints::serve(
                ops,
                Arc::new(Exposed(Arc::clone(&state.metrics))),
                ops_stop.clone(),
            )
        });
        let proxies = state.proxies.clone();
        let broker = state.broker.clone();
        let misconfigured = async { broker.misconfigured().await };
        tokio::pin!(misconfigured);
        let mut refusal = None;
        let connections = Arc::new(Semaphore::new(max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let service = crate::layers::wrap(
            &cors_allowed_origins,
            tower::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
            }),
        );
        tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "ingest listening");
        loop {
            // A slot first (the backlog waits meanwhile), then the socket,
            // then its network's place, before anything is read: one
            // network cannot hold more than its share of the slots.
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                why = &mut misconfigured => {
                    refusal = Some(why);
                    break;
                }
                permit = Arc::clone(&connections).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                why = &mut misconfigured => {
                    refusal = Some(why);
                    break;
                }
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let place = if proxies.trusts(peer.ip()) {
                None
            } else {
                match per_network.admit(shared::net::network_of(peer.ip())) {
                    Some(place) => Some(place),
                    // Over its network's share: closed unread, the slot
                    // goes back to the next socket.
                    None => continue,
                }
            };
            let _ = stream.set_nodelay(true);
            // The router learns the client's address from the request.
            let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                service.clone(),
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(PeerAddr(peer.ip()));
                    request
                },
            ));
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
                drop(place);
                drop(permit);
            });
        }
        drop(listener);
        tracing::info!("ingest draining in-flight requests");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not finish in time");
        }
        tasks.stop().await;
        ops_stop.cancel();
        if let Some(server) = ops_server {
            let _ = server.await;
        }
        tracing::info!("ingest stopped");
        refusal.map_or(Ok(()), |why| Err(RunError::Misconfigured(why)))
    }
}
