//! The Redis side of the cached package views.
//!
//! Ingest reads and fills `package:{tracking_number}` (cache-aside); workers
//! delete it after every committed change. Redis is only a cache: every call
//! here has a short timeout, and callers treat an error as a miss.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::time::Duration;

/// How long a cached view lives when no write invalidates it first.
pub const VIEW_TTL: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct ViewCache {
    connection: ConnectionManager,
    prefix: String,
}

impl ViewCache {
    /// Does not connect: the first command does, and a Redis that is down at
    /// start-up only costs cache misses until it comes back.
    pub fn new(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(300)))
            .set_response_timeout(Some(Duration::from_millis(300)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { connection, prefix: prefix.to_owned() })
    }

    pub fn package_key(&self, tracking_number: &str) -> String {
        format!("{}package:{tracking_number}", self.prefix)
    }

    pub async fn get_package(&self, tracking_number: &str) -> redis::RedisResult<Option<String>> {
        self.connection.clone().get(self.package_key(tracking_number)).await
    }

    pub async fn put_package(&self, tracking_number: &str, json: &str) -> redis::RedisResult<()> {
        self.connection
            .clone()
            .set_ex(self.package_key(tracking_number), json, VIEW_TTL.as_secs())
            .await
    }

    pub async fn invalidate_package(&self, tracking_number: &str) -> redis::RedisResult<()> {
        self.connection.clone().del(self.package_key(tracking_number)).await
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING").query_async::<String>(&mut self.connection.clone()).await.map(drop)
    }
}
