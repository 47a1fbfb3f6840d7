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
    /// The kernel send buffer per client socket (`WS_SEND_BUFFER_BYTES`); unset
    /// leaves the OS default. Smaller means less memory held for a stalled
    /// client and an earlier "too slow" verdict.
    pub send_buffer_bytes: Option<usize>,
}

impl BroadcasterConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env()?,
            listen: var(
                "BROADCASTER_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8081)),
            )?,
            max_connections: var("WS_MAX_CONNECTIONS", 10_000)?,
            max_subscriptions: var("WS_MAX_SUBSCRIPTIONS", 100)?,
            client_queue: var("WS_CLIENT_QUEUE", 256)?,
            ping_interval: millis_var("WS_PING_INTERVAL_MS", 20_000)?,
            idle_timeout: millis_var("WS_IDLE_TIMEOUT_MS", 60_000)?,
            max_frame_bytes: var("WS_MAX_FRAME_BYTES", 4096)?,
            send_buffer_bytes: match var("WS_SEND_BUFFER_BYTES", 0usize)? {
                0 => None,
                bytes => Some(bytes),
            },
        })
    }
}
