//! The subscription that keeps the near cache exact: it drops each view
//! the workers announce as invalidated, and tells the cache whenever
//! announcements may have been lost, then subscribes again.
//!
//! A link is given up when it closes, when a ping is not answered in time,
//! or when the canary does not come back: every [`CHECK_EVERY`] the
//! listener publishes a line of its own on the channel, through the same
//! connection the workers' invalidations take, and expects to hear it
//! within [`CANARY_WAIT`]. A subscription can be alive while announcements
//! no longer reach it (a cluster node cut off from the others, a primary
//! left alone after a failover); the canary finds that out.
//!
//! On a Redis Cluster it subscribes on whichever node answers first: a
//! `PUBLISH` reaches every node's subscribers while the cluster is whole.

use super::NearCache;
use futures_util::StreamExt;
use shared::backoff::{sleep_unless_cancelled, Backoff};
use shared::redis_link::RedisTarget;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the link is checked (a ping and a canary), and how long a
/// ping's answer may take.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a canary may take to come back before the link is given up.
const CANARY_WAIT: Duration = Duration::from_secs(2);

/// What the task needs.
pub struct Listener {
    pub near: Arc<NearCache>,
    pub target: RedisTarget,
    pub channel: String,
    /// The view keys' form, to read tracking numbers out of them, and the
    /// connection the canary is published on.
    pub views: shared::cache::ViewCache,
}

/// Why a subscription ended.
type Lost = redis::RedisError;

impl Listener {
    /// Subscribes, and again after every loss, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let urls: Vec<String> = match &self.target {
            RedisTarget::Single(url) => vec![url.clone()],
            RedisTarget::Cluster(nodes) => nodes.clone(),
        };
        let canary = format!("canary:{}", uuid::Uuid::new_v4().simple());
        let mut next = 0;
        while !stop.is_cancelled() {
            let url = &urls[next % urls.len()];
            next += 1;
            if let Err(error) = self.listen(url, &canary, &mut backoff, &stop).await {
                tracing::debug!(%error, "near cache: invalidations unavailable");
            }
            self.near.link_lost();
            if !sleep_unless_cancelled(backoff.next_delay(), &stop).await {
                break;
            }
        }
    }

    /// One subscription, until it is lost (`Err`) or `stop` (`Ok`).
    async fn listen(
        &self,
        url: &str,
        canary: &str,
        backoff: &mut Backoff,
        stop: &CancellationToken,
    ) -> Result<(), Lost> {
        let client = redis::Client::open(url)?;
        let mut pubsub = within(client.get_async_pubsub()).await??;
        within(pubsub.subscribe(&self.channel)).await??;
        let (mut sink, mut messages) = pubsub.split();
        self.near.subscribed();
        backoff.reset();
        tracing::debug!("near cache: listening for invalidations");
        let mut check = tokio::time::interval(CHECK_EVERY);
        // The canary line awaited, and since when.
        let mut awaited: Option<(String, Instant)> = None;
        let mut sent = 0_u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                message = messages.next() => match message {
                    Some(message) => {
                        let payload = std::str::from_utf8(message.get_payload_bytes())
                            .map_err(|_| lost("an announcement that is not text"))?;
                        if awaited.as_ref().is_some_and(|(line, _)| payload == line) {
                            awaited = None;
                        } else {
                            self.dropped(payload);
                        }
                    }
                    None => return Err(lost("the subscription closed")),
                },
                _ = check.tick() => {
                    within(sink.ping::<redis::Value>()).await??;
                    match &awaited {
                        Some((_, since)) if since.elapsed() > CANARY_WAIT => {
                            return Err(lost("the canary did not come back"));
                        }
                        Some(_) => {}
                        None => {
                            sent += 1;
                            let line = format!("{canary}:{sent}");
                            self.publish(&line).await?;
                            awaited = Some((line, Instant::now()));
                        }
                    }
                }
            }
        }
    }

    /// Publishes `line` on the channel the way the workers do.
    async fn publish(&self, line: &str) -> Result<(), Lost> {
        let mut connection = self.views.connection();
        within(
            redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(line)
                .query_async::<i64>(&mut connection),
        )
        .await?
        .map(drop)
    }

    /// Drops every view a message names (keys, one per line).
    fn dropped(&self, keys: &str) {
        for key in keys.lines() {
            if let Some(tracking_number) = self.views.tracking_number_of(key) {
                self.near.forget(tracking_number);
            }
        }
    }
}

async fn within<T>(work: impl std::future::Future<Output = T>) -> Result<T, Lost> {
    tokio::time::timeout(CHECK_EVERY, work)
        .await
        .map_err(|_| lost("Redis did not answer in time"))
}

fn lost(why: &'static str) -> Lost {
    redis::RedisError::from((redis::ErrorKind::Io, why))
}
