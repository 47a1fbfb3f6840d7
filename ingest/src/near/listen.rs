//! The subscription that keeps the near cache exact: it drops each view
//! the workers announce as invalidated, and tells the cache whenever
//! announcements may have been lost (connection closed, or a ping not
//! answered in time), then subscribes again.
//!
//! On a Redis Cluster it subscribes on whichever node answers first: a
//! `PUBLISH` reaches every node's subscribers.

use super::NearCache;
use futures_util::StreamExt;
use shared::backoff::{sleep_unless_cancelled, Backoff};
use shared::redis_link::RedisTarget;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the link is checked with a ping, and how long its answer may
/// take: a link that hangs silently is given up within about this long.
const PING_EVERY: Duration = Duration::from_secs(1);

/// What the task needs.
pub struct Listener {
    pub near: Arc<NearCache>,
    pub target: RedisTarget,
    pub channel: String,
    /// The view keys' form, to read tracking numbers out of them.
    pub views: shared::cache::ViewCache,
}

impl Listener {
    /// Subscribes, and again after every loss, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let urls: Vec<String> = match &self.target {
            RedisTarget::Single(url) => vec![url.clone()],
            RedisTarget::Cluster(nodes) => nodes.clone(),
        };
        let mut next = 0;
        while !stop.is_cancelled() {
            let url = &urls[next % urls.len()];
            next += 1;
            match self.listen(url, &stop).await {
                Ok(()) => backoff.reset(),
                Err(error) => tracing::debug!(%error, "near cache: invalidations unavailable"),
            }
            self.near.link_lost();
            if !sleep_unless_cancelled(backoff.next_delay(), &stop).await {
                break;
            }
        }
    }

    /// One subscription, until it is lost (`Err`) or `stop` (`Ok`).
    async fn listen(&self, url: &str, stop: &CancellationToken) -> redis::RedisResult<()> {
        let client = redis::Client::open(url)?;
        let mut pubsub = within(client.get_async_pubsub()).await??;
        within(pubsub.subscribe(&self.channel)).await??;
        let (mut sink, mut messages) = pubsub.split();
        self.near.subscribed();
        tracing::debug!("near cache: listening for invalidations");
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                message = messages.next() => match message {
                    Some(message) => self.dropped(message.get_payload_bytes()),
                    None => return Err(closed("the subscription closed")),
                },
                _ = ping.tick() => {
                    within(sink.ping::<redis::Value>()).await??;
                }
            }
        }
    }

    /// Drops every view a message names (keys, one per line).
    fn dropped(&self, payload: &[u8]) {
        let Ok(keys) = std::str::from_utf8(payload) else {
            return;
        };
        for key in keys.lines() {
            if let Some(tracking_number) = self.views.tracking_number_of(key) {
                self.near.forget(tracking_number);
            }
        }
    }
}

async fn within<T>(work: impl std::future::Future<Output = T>) -> redis::RedisResult<T> {
    tokio::time::timeout(PING_EVERY, work)
        .await
        .map_err(|_| closed("Redis did not answer in time"))
}

fn closed(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, why))
}
