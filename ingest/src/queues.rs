//! Queue depths for `/api/v1/stats`: ready messages and consumers from the
//! broker itself (passive declares on the ingest's connection), and
//! unacknowledged ones from RabbitMQ's management API when it is reachable
//! (AMQP does not report them; `null` otherwise).
//!
//! Asking costs a passive declare and a management call per queue (about
//! 8 ms for 21 queues, whatever the number of packages), and every open
//! dashboard asks every 5 s: the answer is kept [`FRESH`] and shared by the
//! requests that come meanwhile, and refreshed by one request at a time
//! ([`Recent`]).

use crate::broker::Broker;
use crate::recent::Recent;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde::{Deserialize, Serialize};
use shared::topology::Topology;
use std::time::Duration;

/// How long the management API gets per queue before its count is `null`.
const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one reading of the depths answers `/stats`.
pub const FRESH: Duration = Duration::from_secs(1);

/// How long one reading may take before it counts as the broker's silence
/// (no depths): the callers waiting on the first reading wait no longer.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// One worker queue's backlog.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    /// `packages`, `locations` or `dead`.
    pub pool: &'static str,
    /// Waiting for a consumer.
    pub messages_ready: u32,
    /// Delivered to a worker and not yet acknowledged; `null` when the
    /// management API (`RABBITMQ_MANAGEMENT_URL`) cannot be asked.
    pub messages_unacknowledged: Option<u64>,
    pub consumers: u32,
}

pub struct QueueStats {
    broker: Broker,
    topology: Topology,
    management: Option<Management>,
    /// The last reading, refreshed by one request at a time.
    recent: Recent<Vec<QueueDepth>>,
}

struct Management {
    /// `http://host:port`, without credentials.
    base: String,
    authorization: Option<HeaderValue>,
    /// As it appears in a URL path (`%2f` for `/`).
    vhost: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

#[derive(Deserialize)]
struct ManagedQueue {
    #[serde(default)]
    messages_unacknowledged: Option<u64>,
}

impl QueueStats {
    pub fn new(
        broker: Broker,
        topology: Topology,
        management_url: Option<String>,
        amqp_url: &str,
    ) -> Self {
        let management = management_url
            .filter(|url| !url.is_empty())
            .and_then(|url| Management::new(&url, amqp_url));
        Self {
            broker,
            topology,
            management,
            recent: Recent::new(FRESH),
        }
    }

    /// Every worker queue's depth, at most [`FRESH`] old (or the last
    /// reading while another request takes a new one); empty while the
    /// broker is unreachable.
    pub async fn depths(&self) -> Vec<QueueDepth> {
        self.recent
            .get(|| async {
                tokio::time::timeout(READ_TIMEOUT, self.read_depths())
                    .await
                    .unwrap_or_default()
            })
            .await
    }

    async fn read_depths(&self) -> Vec<QueueDepth> {
        let t = &self.topology;
        let mut queues: Vec<(String, &'static str)> = (0..t.package_shards())
            .map(|shard| (t.package_queue(shard), "packages"))
            .collect();
        queues.push((t.locations_queue(), "locations"));
        queues.push((t.location_retry_queue(), "locations"));
        queues.push((t.mail_queue(), "mail"));
        queues.push((t.mail_retry_queue(), "mail"));
        queues.push((t.dead_queue(), "dead"));
        let names: Vec<String> = queues.iter().map(|(name, _)| name.clone()).collect();
        let (counts, unacked) = tokio::join!(self.broker.queue_counts(&names), async {
            match &self.management {
                Some(management) => {
                    futures_util::future::join_all(names.iter().map(|q| management.unacked(q)))
                        .await
                }
                None => vec![None; names.len()],
            }
        });
        let Ok(counts) = counts else {
            return Vec::new();
        };
        queues
            .into_iter()
            .zip(counts)
            .zip(unacked)
            .filter_map(|(((queue, pool), counts), unacked)| {
                let (ready, consumers) = counts?;
                Some(QueueDepth {
                    queue,
                    pool,
                    messages_ready: ready,
                    messages_unacknowledged: unacked,
                    consumers,
                })
            })
            .collect()
    }
}

impl Management {
    /// From `http://user:password@host:port`; the vhost is the AMQP URL's.
    fn new(url: &str, amqp_url: &str) -> Option<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            tracing::warn!("RABBITMQ_MANAGEMENT_URL must be http://...; unacked counts are off");
            return None;
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        // A URL's user and password are percent-encoded (`p%40ss` for
        // `p@ss`); Basic authentication wants them as they are.
        let authorization = credentials.and_then(|c| {
            use base64::Engine;
            let (user, password) = c.split_once(':').unwrap_or((c, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
            let mut plain = decode(user);
            plain.push(b':');
            plain.extend(decode(password));
            let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
            HeaderValue::from_str(&format!("Basic {encoded}")).ok()
        });
        let vhost = amqp_url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, path)| path.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty())
            .unwrap_or("%2f")
            .to_owned();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Some(Self {
            base: format!("http://{host}"),
            authorization,
            vhost,
            client,
        })
    }

    async fn unacked(&self, queue: &str) -> Option<u64> {
        let uri = format!("{}/api/queues/{}/{queue}", self.base, self.vhost);
        let mut request = hyper::Request::get(uri).body(Empty::new()).ok()?;
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        let asked = async {
            let response = self.client.request(request).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body = response.into_body().collect().await.ok()?.to_bytes();
            serde_json::from_slice::<ManagedQueue>(&body)
                .ok()?
                .messages_unacknowledged
        };
        tokio::time::timeout(MANAGEMENT_TIMEOUT, asked)
            .await
            .ok()
            .flatten()
    }
}
