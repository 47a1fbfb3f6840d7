//! Builds the broadcaster from config and serves `/ws` until shutdown.

use crate::admission::PublicConnections;
use crate::config::BroadcasterConfig;
use crate::connection::{serve, Limits, Shared};
use crate::events::Events;
use crate::hub::Hub;
use crate::store::EventStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
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

pub struct Application {
    listener: TcpListener,
    shared: Arc<Shared>,
    events_task: JoinHandle<()>,
    events_stop: CancellationToken,
    /// The presence report to Redis and the feed's checkpoints; stopped last.
    background: Vec<JoinHandle<()>>,
    background_stop: CancellationToken,
    max_connections: usize,
    max_frame_bytes: usize,
    handshake_timeout: Duration,
    send_buffer_bytes: Option<usize>,
    public: Arc<PublicConnections>,
    trust_forwarded: bool,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(
        config: BroadcasterConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Listen {
                    addr: config.listen,
                    source,
                })?;
        config.auth.announce("the broadcaster");
        let pool = shared::db::lazy_pool(
            &config.common.database_url,
            config.common.database_max_connections,
        )?;
        let mongo = mongodb::Client::with_uri_str(&config.common.mongodb_url).await?;
        let history = mongo
            .database(&config.common.mongodb_database)
            .collection("location_history");
        let hub = Arc::new(Hub::default());
        let events_stop = CancellationToken::new();
        let (events, events_task) = Events::start(
            config.common.amqp_url.clone(),
            config.common.topology.clone(),
            Arc::clone(&hub),
            events_stop.clone(),
        );
        let cache =
            shared::cache::ViewCache::new(&config.common.redis_url, &config.common.redis_prefix)?;
        let background_stop = CancellationToken::new();
        let (rights, rights_task) = crate::rights::spawn(cache.clone(), background_stop.clone());
        let background = vec![
            rights_task,
            crate::presence::spawn(cache, Arc::clone(&hub), background_stop.clone()),
            crate::feed::spawn_checkpoints(
                pool.clone(),
                Arc::clone(&hub),
                config.feed_checkpoint.max(Duration::from_millis(10)),
                config.feed_resume_max,
                background_stop.clone(),
            ),
        ];
        let limits = Limits {
            max_subscriptions: config.max_subscriptions,
            client_queue: config.client_queue.max(1),
            ping_interval: config.ping_interval,
            idle_timeout: config.idle_timeout,
            feed_resume_max: config.feed_resume_max,
        };
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                hub,
                events,
                store: EventStore::new(pool.clone(), history),
                pool,
                limits,
                auth: config.auth,
                rights,
            }),
            events_task,
            events_stop,
            background,
            background_stop,
            max_connections: config.max_connections.max(1),
            max_frame_bytes: config.max_frame_bytes,
            handshake_timeout: config.handshake_timeout,
            send_buffer_bytes: config.send_buffer_bytes,
            public: PublicConnections::new(config.public_per_address),
            trust_forwarded: config.trust_forwarded,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.shared.hub)
    }

    pub async fn run(self) {
        let Self {
            listener,
            shared,
            events_task,
            events_stop,
            background,
            background_stop,
            max_connections,
            max_frame_bytes,
            handshake_timeout,
            send_buffer_bytes,
            public,
            trust_forwarded,
            shutdown,
        } = self;
        let permits = Arc::new(Semaphore::new(max_connections));
        let connections = TaskTracker::new();
        // Clients send a few small frames; the library's 128 KiB read buffer
        // per connection would be most of the memory of 20,000 watchers.
        // Every frame is flushed as it is written, so no write buffer.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(max_frame_bytes))
            .max_frame_size(Some(max_frame_bytes));
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
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                // Over the cap: refuse at once rather than queue.
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            if let Some(bytes) = send_buffer_bytes {
                let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
            }
            let (shared, shutdown) = (Arc::clone(&shared), shutdown.clone());
            let public = Arc::clone(&public);
            connections.spawn(async move {
                // One deadline for telling /ws from the rest and the handshake.
                let deadline = tokio::time::Instant::now() + handshake_timeout;
                match crate::endpoints::wants_websocket(&stream, deadline).await {
                    Some(true) => {}
                    Some(false) => {
                        crate::endpoints::serve(
                            stream,
                            Arc::clone(&shared.hub),
                            handshake_timeout,
                            shutdown,
                        )
                        .await;
                        drop(permit);
                        return;
                    }
                    None => return,
                }
                let mut session = None;
                // Held while a public connection lasts.
                let mut admitted = None;
                // The callback's signature is tungstenite's.
                #[allow(clippy::result_large_err)]
                let upgrade = |request: &Request,
                               response: Response|
                 -> Result<Response, ErrorResponse> {
                    if !matches!(request.uri().path(), "/ws" | crate::auth::PUBLIC_PATH) {
                        return Err(refusal(StatusCode::NOT_FOUND, "no such endpoint; use /ws"));
                    }
                    if request.uri().path() == crate::auth::PUBLIC_PATH {
                        let client = shared::net::client_address(
                            request.headers(),
                            peer.ip(),
                            trust_forwarded,
                        );
                        admitted = public.admit(shared::net::network_of(client));
                        if admitted.is_none() {
                            return Err(refusal(
                                StatusCode::TOO_MANY_REQUESTS,
                                "too many public connections from this address",
                            ));
                        }
                    }
                    match crate::auth::authenticate(&shared.auth, request) {
                        Ok(authenticated) => {
                            session = Some(authenticated);
                            Ok(response)
                        }
                        Err((status, message)) => Err(refusal(status, &message)),
                    }
                };
                let handshake = tokio_tungstenite::accept_hdr_async_with_config(
                    stream,
                    upgrade,
                    Some(ws_config),
                );
                match tokio::time::timeout_at(deadline, handshake).await {
                    Ok(Ok(ws)) => match session {
                        Some(session) => serve(ws, shared, shutdown, session).await,
                        None => tracing::warn!("upgrade completed without a session"),
                    },
                    Ok(Err(error)) => tracing::debug!(%error, "WebSocket handshake failed"),
                    Err(_) => tracing::debug!("WebSocket handshake timed out; connection dropped"),
                }
                drop(admitted);
                drop(permit);
            });
        }
        connections.close();
        if tokio::time::timeout(Duration::from_secs(5), connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSocket clients did not close in time");
        }
        events_stop.cancel();
        let _ = events_task.await;
        background_stop.cancel();
        for task in background {
            let _ = task.await;
        }
        tracing::info!("broadcaster stopped");
    }
}
