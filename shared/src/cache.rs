//! The Redis side of the cached package views.
//!
//! Ingest reads and fills `package:{tracking_number}` (cache-aside); workers
//! delete it after every committed change. Redis is only a cache: every call
//! here has a short timeout, and callers treat an error as a miss.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a cached view lives when no write invalidates it first.
pub const VIEW_TTL: Duration = Duration::from_secs(300);

/// After a Redis error, calls fail fast for this long instead of each waiting
/// for a timeout: an outage costs reads nothing but the cache.
const BACKOFF_AFTER_ERROR: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ViewCache {
    connection: ConnectionManager,
    prefix: String,
    /// Milliseconds since `epoch` before which calls are skipped.
    skip_until_ms: Arc<AtomicU64>,
    epoch: Instant,
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
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            skip_until_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs a command unless Redis failed very recently; an error opens the
    /// fail-fast window.
    async fn guarded<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis recently failed; skipping",
            )));
        }
        let result = command.await;
        if result.is_err() {
            let until = self.now_ms() + BACKOFF_AFTER_ERROR.as_millis() as u64;
            self.skip_until_ms.store(until, Ordering::Relaxed);
        }
        result
    }

    pub fn package_key(&self, tracking_number: &str) -> String {
        format!("{}package:{tracking_number}", self.prefix)
    }

    pub async fn get_package(&self, tracking_number: &str) -> redis::RedisResult<Option<String>> {
        self.guarded(
            self.connection
                .clone()
                .get(self.package_key(tracking_number)),
        )
        .await
    }

    pub async fn put_package(&self, tracking_number: &str, json: &str) -> redis::RedisResult<()> {
        self.guarded(self.connection.clone().set_ex(
            self.package_key(tracking_number),
            json,
            VIEW_TTL.as_secs(),
        ))
        .await
    }

    pub async fn invalidate_package(&self, tracking_number: &str) -> redis::RedisResult<()> {
        // Invalidation is not guarded: skipping it would leave a stale view.
        self.connection
            .clone()
            .del(self.package_key(tracking_number))
            .await
    }

    /// Pings Redis directly, ignoring the fail-fast window (health checks).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.connection.clone())
            .await
            .map(drop)
    }
}
