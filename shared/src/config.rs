//! 12-factor configuration: every setting is an environment variable with a
//! localhost default (read with [`crate::env`], re-exported here). The
//! settings every service shares are [`CommonConfig`].

pub use crate::env::*;

/// Where the broker is and how its namespace is laid out (`AMQP_URL`,
/// `AMQP_PREFIX`, `PACKAGE_SHARDS`): all that tools which only move messages
/// as they are need (`workers dlq`).
pub fn broker_from_env() -> Result<(String, crate::topology::Topology), ConfigError> {
    let shards: u16 = var("PACKAGE_SHARDS", 4)?;
    if shards == 0 || shards > 256 {
        return Err(ConfigError {
            name: "PACKAGE_SHARDS".into(),
            value: shards.to_string(),
            reason: "must be between 1 and 256".into(),
        });
    }
    let url = url_var(
        "AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        &["amqp", "amqps"],
    )?;
    check_url_credentials("AMQP_URL", &url)?;
    let topology =
        crate::topology::Topology::new(var("AMQP_PREFIX", "delivertrack".to_owned())?, shards);
    Ok((url, topology))
}

/// Settings every service shares: where the four backing services are and how
/// the broker namespace is laid out.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: String,
    /// Prepended to every Redis key, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    pub amqp_url: String,
    pub mongodb_url: String,
    pub mongodb_database: String,
    pub topology: crate::topology::Topology,
    /// `MESSAGE_SIGNING_KEY` (and a previous one during a rotation): every
    /// message on the broker is sealed and opened with these.
    pub signing: crate::seal::SigningKeys,
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with_keys(crate::seal::SigningKeys::from_env()?)
    }

    /// Everything but the signing keys from the environment (tests bring
    /// keys of their own).
    pub fn from_env_with_keys(signing: crate::seal::SigningKeys) -> Result<Self, ConfigError> {
        let (amqp_url, topology) = broker_from_env()?;
        let config = Self {
            database_url: url_var(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/delivertrack",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: var("DATABASE_MAX_CONNECTIONS", 10)?,
            redis_url: url_var("REDIS_URL", "redis://127.0.0.1:6379", &["redis", "rediss"])?,
            redis_prefix: var("REDIS_PREFIX", String::new())?,
            amqp_url,
            mongodb_url: url_var(
                "MONGODB_URL",
                "mongodb://127.0.0.1:27017",
                &["mongodb", "mongodb+srv"],
            )?,
            mongodb_database: var("MONGODB_DATABASE", "delivertrack".to_owned())?,
            topology,
            signing,
        };
        for (name, url) in [
            ("DATABASE_URL", &config.database_url),
            ("REDIS_URL", &config.redis_url),
            ("AMQP_URL", &config.amqp_url),
            ("MONGODB_URL", &config.mongodb_url),
        ] {
            check_url_credentials(name, url)?;
        }
        Ok(config)
    }
}
