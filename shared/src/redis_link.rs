//! One handle on Redis, whether it is a single server (`REDIS_URL`) or a
//! Redis Cluster (`REDIS_CLUSTER_URLS`): every module sends its commands
//! through [`RedisLink`] alike.
//!
//! On a cluster, the keys one command or script touches must share a hash
//! slot: modules that touch several keys at once put a hash tag in them
//! (`{...}`, see [`crate::cache::ViewCache::tagged_key`]); the view
//! invalidations go key by key.
//!
//! Both kinds connect lazily and time out fast: Redis is a cache and a
//! coordinator here, and every caller has a way to do without it for a while
//! (a miss read from PostgreSQL, a local rate-limit count, checking every
//! account again).

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// How long connecting, or one answer, may take.
const TIMEOUT: Duration = Duration::from_millis(300);

/// Where Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server.
    Single(String),
    /// A cluster, by any of its nodes (the others are discovered).
    Cluster(Vec<String>),
}

#[derive(Clone)]
pub enum RedisLink {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisLink {
    /// Does not connect: the first command does.
    pub fn new(target: &RedisTarget) -> RedisResult<Self> {
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Self::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            RedisTarget::Cluster(nodes) => {
                // One retry: while a failed primary's replica is promoted,
                // commands for its slots fail fast instead of queueing.
                let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .retries(1)
                    .min_retry_wait(50)
                    .max_retry_wait(200)
                    .build()?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(TIMEOUT)
                    .set_response_timeout(TIMEOUT);
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    /// Whether keys in different hash slots must go in separate commands.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for RedisLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
