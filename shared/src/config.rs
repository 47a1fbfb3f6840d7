//! 12-factor configuration: every setting is an environment variable with a
//! localhost default (read with [`crate::env`], re-exported here). The
//! settings every service shares are [`CommonConfig`].

pub use crate::env::*;

/// Where the broker's nodes are and how its namespace is laid out
/// (`AMQP_URLS` or `AMQP_URL`, `AMQP_PREFIX`, `PACKAGE_SHARDS`): all that
/// tools which only move messages as they are need (`workers dlq`).
pub fn broker_from_env() -> Result<(crate::brokers::Brokers, crate::topology::Topology), ConfigError>
{
    let shards: u16 = var("PACKAGE_SHARDS", 16)?;
    if shards == 0 || shards > 256 {
        return Err(ConfigError {
            name: "PACKAGE_SHARDS".into(),
            value: shards.to_string(),
            reason: "must be between 1 and 256".into(),
        });
    }
    let urls = url_list_var(
        "AMQP_URLS",
        "AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        &["amqp", "amqps"],
    )?;
    for url in &urls {
        check_url_credentials("AMQP_URLS", url)?;
    }
    let topology =
        crate::topology::Topology::new(var("AMQP_PREFIX", "delivertrack".to_owned())?, shards);
    Ok((crate::brokers::Brokers::new(urls), topology))
}

/// `DATABASE_READ_URL`, checked like `DATABASE_URL`; unset or empty: none.
fn read_url_from_env() -> Result<Option<String>, ConfigError> {
    let url: String = var("DATABASE_READ_URL", String::new())?;
    if url.trim().is_empty() {
        return Ok(None);
    }
    let url = url_var("DATABASE_READ_URL", "", &["postgres", "postgresql"])?;
    check_url_credentials("DATABASE_READ_URL", &url)?;
    Ok(Some(url))
}

/// `REDIS_CLUSTER_URLS`, each checked like `REDIS_URL`.
fn redis_cluster_from_env() -> Result<Vec<String>, ConfigError> {
    let listed: String = var("REDIS_CLUSTER_URLS", String::new())?;
    let mut urls = Vec::new();
    for url in listed.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            return Err(ConfigError {
                name: "REDIS_CLUSTER_URLS".into(),
                value: listed.clone(),
                reason: "expected URLs starting with redis:// or rediss://, comma-separated".into(),
            });
        }
        check_url_credentials("REDIS_CLUSTER_URLS", url)?;
        urls.push(url.to_owned());
    }
    Ok(urls)
}

/// Settings every service shares: where the four backing services are and how
/// the broker namespace is laid out.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub database_url: String,
    pub database_max_connections: u32,
    /// `DATABASE_READ_URL`: a read replica of `DATABASE_URL`, for ingest's
    /// package reads (see [`crate::replica`]); none: every read goes to the
    /// primary.
    pub database_read_url: Option<String>,
    /// One Redis server (`REDIS_URL`), unless `REDIS_CLUSTER_URLS` lists a
    /// cluster's nodes.
    pub redis_url: String,
    /// `REDIS_CLUSTER_URLS`: some nodes of a Redis Cluster (comma-separated);
    /// empty for one server.
    pub redis_cluster_urls: Vec<String>,
    /// Prepended to every Redis key, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    /// The broker's nodes: connections go to the first that answers.
    pub brokers: crate::brokers::Brokers,
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
        let (brokers, topology) = broker_from_env()?;
        let config = Self {
            database_url: url_var(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/delivertrack",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: var("DATABASE_MAX_CONNECTIONS", 10)?,
            database_read_url: read_url_from_env()?,
            redis_url: url_var("REDIS_URL", "redis://127.0.0.1:6379", &["redis", "rediss"])?,
            redis_cluster_urls: redis_cluster_from_env()?,
            redis_prefix: var("REDIS_PREFIX", String::new())?,
            brokers,
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
            ("MONGODB_URL", &config.mongodb_url),
        ] {
            check_url_credentials(name, url)?;
        }
        Ok(config)
    }
}

impl CommonConfig {
    /// Where Redis is: the cluster when `REDIS_CLUSTER_URLS` lists nodes,
    /// else the one server at `REDIS_URL`.
    pub fn redis_target(&self) -> crate::redis_link::RedisTarget {
        if self.redis_cluster_urls.is_empty() {
            crate::redis_link::RedisTarget::Single(self.redis_url.clone())
        } else {
            crate::redis_link::RedisTarget::Cluster(self.redis_cluster_urls.clone())
        }
    }
}
