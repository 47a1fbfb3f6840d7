//! Builds the broadcaster from config and serves `/ws` until shutdown.
//!
//! A socket is admitted in steps, cheapest first: its network's place among
//! open connections and the instance's cap (at accept, before anything is
//! read: [`shared::admission::Gate`]), then the request line and the
//! upgrade ([`crate::upgrade`]), and once open, the session behind it and
//! its account's place ([`crate::connection`]). `/metrics` and the health
//! probes are on `METRICS_LISTEN`, counted by none of these.

use crate::admission::{OpenRate, Places};
use crate::config::BroadcasterConfig;
use crate::connection::{Limits, Shared};
use crate::events::Events;
use crate::hub::Hub;
use crate::store::EventStore;
use crate::upgrade::Admission;
use shared::admission::{Gate, OverCap};
use shared::tasks::Tasks;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid PostgreSQL configuration: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid MongoDB configuration: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
}

pub struct Application {
    /// The public port, with the instance's cap and each network's share.
    gate: Gate,
    ops: Option<TcpListener>,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    /// Stopped once the clients are closed: the broker side first, then
    /// the rights watch, the presence report and the feed's checkpoints.
    tasks: Tasks,
    send_buffer_bytes: Option<usize>,
    shutdown: CancellationToken,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })
}

impl Application {
    pub async fn build(
        config: BroadcasterConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener = bind(config.listen).await?;
        let ops = match config.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        config.auth.announce("the broadcaster");
        let (shared, tasks) = start(&config).await?;
        let gate = Gate::new(
            listener,
            config.max_connections,
            config.per_address,
            config.proxies.clone(),
            OverCap::Refuse,
        );
        Ok(Self {
            gate,
            ops,
            shared: Arc::new(shared),
            admission: Arc::new(Admission {
                public: Places::new(config.public_per_address),
                public_opens: OpenRate::new(config.public_opens_per_minute),
                proxies: config.proxies,
                handshake_timeout: config.handshake_timeout,
                ws_config: ws_config(config.max_frame_bytes),
            }),
            tasks,
            send_buffer_bytes: config.send_buffer_bytes,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.gate
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Where `/metrics` and the health probes are served, if anywhere.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.shared.hub)
    }

    /// Serves until shutdown, then closes every client with a close frame
    /// (up to a deadline) and stops the background tasks.
    pub async fn run(self) {
        let ops_stop = CancellationToken::new();
        let ops_server = self.ops.map(|ops| {
            let exposed = Arc::new(crate::endpoints::Broadcaster(Arc::clone(&self.shared.hub)));
            shared::endpoints::serve(ops, exposed, ops_stop.clone())
        });
        let connections = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = self.gate.next() => accepted,
            };
            if let Some(bytes) = self.send_buffer_bytes {
                let _ = socket2::SockRef::from(&accepted.stream).set_send_buffer_size(bytes);
            }
            let (shared, admission) = (Arc::clone(&self.shared), Arc::clone(&self.admission));
            let shutdown = self.shutdown.clone();
            connections.spawn(async move {
                let upgrade = crate::upgrade::accept(
                    accepted.stream,
                    accepted.peer,
                    shared,
                    admission,
                    shutdown,
                );
                upgrade.await;
                drop(accepted.admitted);
            });
        }
        connections.close();
        if tokio::time::timeout(Duration::from_secs(5), connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSocket clients did not close in time");
        }
        self.tasks.stop().await;
        ops_stop.cancel();
        if let Some(server) = ops_server {
            let _ = server.await;
        }
        tracing::info!("broadcaster stopped");
    }
}

/// What every connection shares, and the tasks behind it, started.
async fn start(config: &BroadcasterConfig) -> Result<(Shared, Tasks), StartupError> {
    let common = &config.common;
    let pool = shared::db::lazy_pool(&common.database_url, common.database_max_connections)?;
    let mongo = mongodb::Client::with_uri_str(&common.mongodb_url).await?;
    let history = mongo
        .database(&common.mongodb_database)
        .collection(shared::locations::stored::HISTORY);
    let cache = shared::cache::ViewCache::new(&common.redis_target(), &common.redis_prefix)?;
    let hub = Arc::new(Hub::default());
    let events_stop = CancellationToken::new();
    let (events, events_task) = Events::start(
        common.brokers.clone(),
        common.topology.clone(),
        common.signing.clone(),
        Arc::clone(&hub),
        events_stop.clone(),
    );
    let background = CancellationToken::new();
    let (rights, rights_task) = crate::rights::spawn(cache.clone(), background.clone());
    let checkpoints = crate::feed::spawn_checkpoints(
        pool.clone(),
        Arc::clone(&hub),
        config.feed_checkpoint.max(Duration::from_millis(10)),
        config.feed_resume_max,
        background.clone(),
    );
    let presence = crate::presence::spawn(cache.clone(), Arc::clone(&hub), background.clone());
    // Added in reverse of the order they stop in: the broker side first.
    let mut tasks = Tasks::new();
    tasks.add("feed checkpoints", background.clone(), checkpoints);
    tasks.add("presence", background.clone(), presence);
    tasks.add("rights", background, rights_task);
    tasks.add("events", events_stop, events_task);
    let shared = Shared {
        hub,
        events,
        store: EventStore::new(pool.clone(), history),
        pool,
        limits: limits(config),
        auth: config.auth.clone(),
        rights,
        limiter: Arc::new(shared::rate_limit::RateLimiter::new(cache.clone())),
        cache,
        keys: common.signing.clone(),
        per_account: Places::new(config.per_account),
    };
    Ok((shared, tasks))
}

fn limits(config: &BroadcasterConfig) -> Limits {
    Limits {
        max_subscriptions: config.max_subscriptions,
        client_queue: config.client_queue.max(1),
        ping_interval: config.ping_interval,
        idle_timeout: config.idle_timeout,
        feed_resume_max: config.feed_resume_max,
        requests_per_second: config.requests_per_second,
        requests_burst: config.requests_burst,
        public_lookups_per_minute: config.public_lookups_per_minute,
    }
}

/// Clients send a few small frames; the library's 128 KiB read buffer per
/// connection would be most of the memory of 20,000 watchers. Every frame
/// is flushed as it is written, so no write buffer.
fn ws_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
}
