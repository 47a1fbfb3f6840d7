//! Builds the broadcaster from config and serves `/ws` until shutdown.
//!
//! A socket is admitted in steps, cheapest first: its network's place among
//! open connections (at accept, before anything is read), the instance's
//! cap, the request line (only `/ws` and `/ws/public` are served here), the
//! upgrade (a public connection's open rate and place; a token's signature,
//! or a ticket), and once open, the session behind it and its account's
//! place ([`crate::connection`]). `/metrics` and the health probes are on
//! `METRICS_LISTEN`, counted by none of these.

use crate::admission::{OpenRate, Places};
use crate::config::BroadcasterConfig;
use crate::connection::{serve, Limits, Peer, Shared};
use crate::events::Events;
use crate::hub::Hub;
use crate::store::EventStore;
use shared::tasks::Tasks;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A refused upgrade: the status and a JSON error body.
fn refusal(status: StatusCode, message: &str) -> ErrorResponse {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut refusal = ErrorResponse::new(Some(body));
    *refusal.status_mut() = status;
    refusal
}

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

/// How sockets are let in.
struct Admission {
    /// Every connection, by the peer's network.
    per_network: Arc<Places>,
    /// `/ws/public` connections, by the client's network.
    public: Arc<Places>,
    public_opens: OpenRate,
    proxies: shared::net::TrustedProxies,
    handshake_timeout: Duration,
    ws_config: WebSocketConfig,
}

pub struct Application {
    listener: TcpListener,
    ops: Option<TcpListener>,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    /// Stopped once the clients are closed: the broker side first, then
    /// the rights watch, the presence report and the feed's checkpoints.
    tasks: Tasks,
    max_connections: usize,
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
        let pool = shared::db::lazy_pool(
            &config.common.database_url,
            config.common.database_max_connections,
        )?;
        let mongo = mongodb::Client::with_uri_str(&config.common.mongodb_url).await?;
        let history = mongo
            .database(&config.common.mongodb_database)
            .collection(shared::locations::stored::HISTORY);
        let hub = Arc::new(Hub::default());
        let events_stop = CancellationToken::new();
        let (events, events_task) = Events::start(
            config.common.amqp_url.clone(),
            config.common.topology.clone(),
            config.common.signing.clone(),
            Arc::clone(&hub),
            events_stop.clone(),
        );
        let cache =
            shared::cache::ViewCache::new(&config.common.redis_url, &config.common.redis_prefix)?;
        let background_stop = CancellationToken::new();
        let (rights, rights_task) = crate::rights::spawn(cache.clone(), background_stop.clone());
        // Added in reverse of the order they stop in: the broker side first.
        let mut tasks = Tasks::new();
        tasks.add(
            "feed checkpoints",
            background_stop.clone(),
            crate::feed::spawn_checkpoints(
                pool.clone(),
                Arc::clone(&hub),
                config.feed_checkpoint.max(Duration::from_millis(10)),
                config.feed_resume_max,
                background_stop.clone(),
            ),
        );
        let presence =
            crate::presence::spawn(cache.clone(), Arc::clone(&hub), background_stop.clone());
        tasks.add("presence", background_stop.clone(), presence);
        tasks.add("rights", background_stop, rights_task);
        tasks.add("events", events_stop, events_task);
        let limits = Limits {
            max_subscriptions: config.max_subscriptions,
            client_queue: config.client_queue.max(1),
            ping_interval: config.ping_interval,
            idle_timeout: config.idle_timeout,
            feed_resume_max: config.feed_resume_max,
            requests_per_second: config.requests_per_second,
            requests_burst: config.requests_burst,
            public_lookups_per_minute: config.public_lookups_per_minute,
        };
        // Clients send a few small frames; the library's 128 KiB read buffer
        // per connection would be most of the memory of 20,000 watchers.
        // Every frame is flushed as it is written, so no write buffer.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(config.max_frame_bytes))
            .max_frame_size(Some(config.max_frame_bytes));
        Ok(Self {
            listener,
            ops,
            shared: Arc::new(Shared {
                hub,
                events,
                store: EventStore::new(pool.clone(), history),
                pool,
                limits,
                auth: config.auth,
                rights,
                limiter: Arc::new(shared::rate_limit::RateLimiter::new(cache.clone())),
                cache,
                keys: config.common.signing.clone(),
                per_account: Places::new(config.per_account),
            }),
            admission: Arc::new(Admission {
                per_network: Places::new(config.per_address),
                public: Places::new(config.public_per_address),
                public_opens: OpenRate::new(config.public_opens_per_minute),
                proxies: config.proxies,
                handshake_timeout: config.handshake_timeout,
                ws_config,
            }),
            tasks,
            max_connections: config.max_connections.max(1),
            send_buffer_bytes: config.send_buffer_bytes,
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

    pub fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.shared.hub)
    }

    pub async fn run(self) {
        let Self {
            listener,
            ops,
            shared,
            admission,
            tasks,
            max_connections,
            send_buffer_bytes,
            shutdown,
        } = self;
        let ops_stop = CancellationToken::new();
        let ops_server = ops.map(|ops| {
            shared::endpoints::serve(
                ops,
                Arc::new(crate::endpoints::Broadcaster(Arc::clone(&shared.hub))),
                ops_stop.clone(),
            )
        });
        let permits = Arc::new(Semaphore::new(max_connections));
        let connections = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Before anything is read: the peer's network's place (a trusted
            // proxy carries many clients, counted by their own addresses on
            // public connections), then the instance's.
            let place = if admission.proxies.trusts(peer.ip()) {
                None
            } else {
                match admission
                    .per_network
                    .admit(shared::net::network_of(peer.ip()))
                {
                    Some(place) => Some(place),
                    None => continue,
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                // Over the cap: refuse at once rather than queue.
                continue;
            };
            let _ = stream.set_nodelay(true);
            if let Some(bytes) = send_buffer_bytes {
                let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
            }
            let (shared, shutdown, admission) = (
                Arc::clone(&shared),
                shutdown.clone(),
                Arc::clone(&admission),
            );
            connections.spawn(async move {
                accept(stream, peer, shared, admission, shutdown).await;
                drop(permit);
                drop(place);
            });
        }
        connections.close();
        if tokio::time::timeout(Duration::from_secs(5), connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSocket clients did not close in time");
        }
        tasks.stop().await;
        ops_stop.cancel();
        if let Some(server) = ops_server {
            let _ = server.await;
        }
        tracing::info!("broadcaster stopped");
    }
}

/// One socket from its request line to the end of its connection.
async fn accept(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    shutdown: CancellationToken,
) {
    // One deadline for the request line and the handshake.
    let deadline = tokio::time::Instant::now() + admission.handshake_timeout;
    match crate::endpoints::wants_websocket(&stream, deadline).await {
        Some(true) => {}
        Some(false) => {
            let body = r#"{"error":"no such endpoint; use /ws or /ws/public"}"#;
            let response = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                stream.write_all(response.as_bytes()),
            )
            .await;
            return;
        }
        None => return,
    }
    let mut credential = None;
    let mut network = shared::net::network_of(peer.ip());
    // Held while a public connection lasts.
    let mut public_place = None;
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let upgrade = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path();
        if !matches!(path, "/ws" | crate::auth::PUBLIC_PATH) {
            return Err(refusal(StatusCode::NOT_FOUND, "no such endpoint; use /ws"));
        }
        let client = shared::net::client_address(request.headers(), peer.ip(), &admission.proxies);
        network = shared::net::network_of(client);
        if path == crate::auth::PUBLIC_PATH {
            if let Err(wait) = admission.public_opens.take(&network) {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!(
                        "too many public connections opened from this network; retry in {} s",
                        wait.as_secs().max(1)
                    ),
                ));
            }
            public_place = admission.public.admit(network.clone());
            if public_place.is_none() {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many public connections from this address",
                ));
            }
        }
        match crate::auth::credential(&shared.auth, request) {
            Ok(presented) => {
                credential = Some(presented);
                Ok(response)
            }
            Err((status, message)) => Err(refusal(status, &message)),
        }
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, upgrade, Some(admission.ws_config));
    match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => match credential {
            Some(credential) => {
                serve(
                    ws,
                    shared,
                    shutdown,
                    Peer {
                        credential,
                        network,
                    },
                )
                .await
            }
            None => tracing::warn!("upgrade completed without a credential"),
        },
        Ok(Err(error)) => tracing::debug!(%error, "WebSocket handshake failed"),
        Err(_) => tracing::debug!("WebSocket handshake timed out; connection dropped"),
    }
    drop(public_place);
}
