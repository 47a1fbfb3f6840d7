use shared::config::{millis_var, var, CommonConfig, ConfigError};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub common: CommonConfig,
    /// `INGEST_LISTEN`; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// How long a write waits for the worker's outcome before answering 202.
    pub outcome_timeout: Duration,
    /// How long a publish waits for the broker's confirm before answering 503.
    pub confirm_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub locations: crate::routes::locations::PointRules,
}

impl IngestConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default_listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        Ok(Self {
            common: CommonConfig::from_env()?,
            listen: var("INGEST_LISTEN", default_listen)?,
            outcome_timeout: millis_var("OUTCOME_TIMEOUT_MS", 5_000)?,
            confirm_timeout: millis_var("AMQP_CONFIRM_TIMEOUT_MS", 5_000)?,
            max_body_bytes: var("MAX_BODY_BYTES", 64 * 1024)?,
            max_connections: var("MAX_CONNECTIONS", 10_000)?,
            locations: crate::routes::locations::PointRules {
                max_future_skew: Duration::from_secs(var("LOCATION_MAX_FUTURE_SKEW_S", 300)?),
                max_age: Duration::from_secs(var("LOCATION_MAX_AGE_S", 7 * 24 * 3600)?),
                batch_max_points: var("LOCATION_BATCH_MAX_POINTS", 1000)?,
                batch_max_bytes: var("LOCATION_BATCH_MAX_BYTES", 1024 * 1024)?,
            },
        })
    }
}
