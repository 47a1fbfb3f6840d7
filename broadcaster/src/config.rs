use shared::config::{millis_var, var, CommonConfig, ConfigError};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BroadcasterConfig {
    pub common: CommonConfig,
    pub listen: SocketAddr,
    pub max_connections: usize,
    pub max_subscriptions: usize,
    /// Messages queued for one client before it counts as too slow.
    pub client_queue: usize,
    pub ping_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    pub max_frame_bytes: usize,
    /// How long a new connection may take to complete the WebSocket handshake
    /// (`WS_HANDSHAKE_TIMEOUT_MS`): a socket that never does must not hold a
    /// connection slot.
    pub handshake_timeout: Duration,
    /// The kernel send buffer per client socket (`WS_SEND_BUFFER_BYTES`); unset
    /// leaves the OS default. Smaller means less memory held for a stalled
    /// client and an earlier "too slow" verdict.
    pub send_buffer_bytes: Option<usize>,
    /// Anonymous `/ws/public` connections per client network
    /// (`WS_PUBLIC_PER_ADDRESS`; 0: no cap).
    pub public_per_address: usize,
    /// Open connections of any kind per client network, counted when the
    /// socket is accepted, before anything is read (`WS_PER_ADDRESS`; 0: no
    /// cap). A trusted proxy's own address is not capped.
    pub per_address: usize,
    /// Open connections per account (`WS_MAX_PER_ACCOUNT`; 0: no cap).
    pub per_account: usize,
    /// `/ws/public` connections a network may open per minute
    /// (`WS_PUBLIC_OPENS_PER_MIN`; 0: no limit).
    pub public_opens_per_minute: u32,
    /// Requests (subscribe, unsubscribe, ...) per second one connection may
    /// send on average (`WS_REQUESTS_PER_S`; 0: no limit), after a burst of
    /// `WS_REQUESTS_BURST`.
    pub requests_per_second: f64,
    pub requests_burst: u32,
    /// Public lookups (`/ws/public` subscribes) per minute per client
    /// network, shared with ingest's `GET /api/v1/track/{tn}` through Redis
    /// (`RATE_LIMIT_TRACK_PER_MIN`; 0: no limit).
    pub public_lookups_per_minute: u32,
    /// Where `/metrics` and the health probes are served (`METRICS_LISTEN`,
    /// default `127.0.0.1:9102`; `off` serves nothing).
    pub metrics_listen: Option<SocketAddr>,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` entries name
    /// the client (none: the peer is the client).
    pub proxies: shared::net::TrustedProxies,
    /// The most package states a resuming feed client is sent
    /// (`WS_FEED_RESUME_MAX`); past that it is told to read its list again.
    pub feed_resume_max: usize,
    /// How often feed clients get a newer cursor (`WS_FEED_CHECKPOINT_MS`).
    /// Also how old it is when sent: longer means more sent again on resume,
    /// shorter less margin for events still in flight.
    pub feed_checkpoint: Duration,
    /// `AUTH_DISABLED`, `JWT_*`: how upgrades are authenticated (verifying
    /// only: the broadcaster never issues tokens).
    pub auth: shared::auth::AuthConfig,
}

impl BroadcasterConfig {
    /// The defaults; `from_env` overrides them.
    /// `auth` has no default: tests pass their own, `from_env` reads it.
    pub fn new(common: CommonConfig, auth: shared::auth::AuthConfig) -> Self {
        Self {
            auth,
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            max_connections: 20_000,
            max_subscriptions: 100,
            client_queue: 256,
            ping_interval: Duration::from_millis(20_000),
            idle_timeout: Duration::from_millis(60_000),
            max_frame_bytes: 4096,
            handshake_timeout: Duration::from_secs(10),
            send_buffer_bytes: None,
            public_per_address: 20,
            per_address: 256,
            per_account: 20,
            public_opens_per_minute: 60,
            requests_per_second: 10.0,
            requests_burst: 100,
            public_lookups_per_minute: 60,
            metrics_listen: None,
            proxies: shared::net::TrustedProxies::default(),
            feed_resume_max: 10_000,
            feed_checkpoint: Duration::from_secs(10),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::new(
            CommonConfig::from_env()?,
            shared::auth::AuthConfig::from_env(false)?,
        );
        Ok(Self {
            listen: var("BROADCASTER_LISTEN", d.listen)?,
            max_connections: var("WS_MAX_CONNECTIONS", d.max_connections)?,
            max_subscriptions: var("WS_MAX_SUBSCRIPTIONS", d.max_subscriptions)?,
            client_queue: var("WS_CLIENT_QUEUE", d.client_queue)?,
            ping_interval: millis_var("WS_PING_INTERVAL_MS", d.ping_interval)?,
            idle_timeout: millis_var("WS_IDLE_TIMEOUT_MS", d.idle_timeout)?,
            max_frame_bytes: var("WS_MAX_FRAME_BYTES", d.max_frame_bytes)?,
            handshake_timeout: millis_var("WS_HANDSHAKE_TIMEOUT_MS", d.handshake_timeout)?,
            send_buffer_bytes: match var("WS_SEND_BUFFER_BYTES", 0usize)? {
                0 => None,
                bytes => Some(bytes),
            },
            public_per_address: var("WS_PUBLIC_PER_ADDRESS", d.public_per_address)?,
            per_address: var("WS_PER_ADDRESS", d.per_address)?,
            per_account: var("WS_MAX_PER_ACCOUNT", d.per_account)?,
            public_opens_per_minute: var("WS_PUBLIC_OPENS_PER_MIN", d.public_opens_per_minute)?,
            requests_per_second: var("WS_REQUESTS_PER_S", d.requests_per_second)?,
            requests_burst: var("WS_REQUESTS_BURST", d.requests_burst)?,
            public_lookups_per_minute: var(
                "RATE_LIMIT_TRACK_PER_MIN",
                d.public_lookups_per_minute,
            )?,
            metrics_listen: shared::endpoints::listen_var("127.0.0.1:9102")?,
            proxies: shared::net::TrustedProxies::from_env()?,
            feed_resume_max: var("WS_FEED_RESUME_MAX", d.feed_resume_max)?,
            feed_checkpoint: millis_var("WS_FEED_CHECKPOINT_MS", d.feed_checkpoint)?,
            auth: d.auth,
            common: d.common,
        })
    }
}
