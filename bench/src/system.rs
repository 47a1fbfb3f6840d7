//! The running system under measurement: where its API and WebSocket are,
//! and direct views of its stores and queues (the same environment variables
//! the services read), to check that nothing accepted was lost and to watch
//! the queues drain.

use anyhow::Context;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use shared::config::CommonConfig;
use shared::locations::stored::{self, HistoryDoc};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a store may take to answer when the run starts.
const REACH: Duration = Duration::from_secs(5);

pub struct System {
    pub ws: String,
    /// Sent as `Authorization: Bearer` on every WebSocket upgrade.
    pub ws_token: Option<String>,
    pub addr: SocketAddr,
    pub host: String,
    /// The API's path prefix (`/api/v1`).
    pub prefix: String,
    pub config: CommonConfig,
    pub pool: sqlx::PgPool,
    pub mongo: mongodb::Database,
    pub amqp: lapin::Connection,
}

impl System {
    /// Connects to the stores the services use (their environment
    /// variables), each within [`REACH`].
    pub async fn connect(api: &str, ws: &str, ws_token: Option<String>) -> anyhow::Result<Self> {
        let config = CommonConfig::from_env()?;
        let (addr, host, prefix) = crate::load::address_of(api)?;
        // Each store answers within seconds or the run ends naming it:
        // never a silent wait on a default URL that nothing serves.
        let named = |store: &str, url: &str| {
            format!(
                "{store} at {} (set its URL in the environment, as for the services)",
                shared::env::mask_url_password(url)
            )
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(REACH)
            .connect(&config.database_url)
            .await
            .with_context(|| named("PostgreSQL", &config.database_url))?;
        let mongo = mongodb::Client::with_uri_str(&config.mongodb_url)
            .await
            .with_context(|| named("MongoDB", &config.mongodb_url))?
            .database(&config.mongodb_database);
        tokio::time::timeout(REACH, mongo.run_command(mongodb::bson::doc! {"ping": 1}))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {REACH:?}"))
            .and_then(|answer| answer.map_err(anyhow::Error::from))
            .with_context(|| named("MongoDB", &config.mongodb_url))?;
        let amqp = tokio::time::timeout(REACH, config.brokers.connect("dt-bench"))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {REACH:?}"))
            .and_then(|connected| connected.map_err(anyhow::Error::from))
            .context("RabbitMQ (AMQP_URL or AMQP_URLS)")?;
        Ok(Self {
            ws: ws.to_owned(),
            ws_token,
            addr,
            host,
            prefix,
            config,
            pool,
            mongo,
            amqp,
        })
    }

    /// A load against the API (one connection, closed loop, by default).
    pub fn load(&self, label: impl Into<String>) -> crate::load::Load {
        crate::load::Load::new(label, self.addr, self.host.clone())
    }

    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// `/packages/{tn}{rest}` for each package, ready to request.
    pub fn package_paths(&self, tracking_numbers: &[String], rest: &str) -> Vec<String> {
        tracking_numbers
            .iter()
            .map(|tn| self.path(&format!("/packages/{tn}{rest}")))
            .collect()
    }

    /// Messages ready in a queue (unacked ones are not counted).
    pub async fn queue_depth(&self, queue: &str) -> u64 {
        let Ok(channel) = self.amqp.create_channel().await else {
            return 0;
        };
        let depth = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|q| u64::from(q.message_count()))
            .unwrap_or(0);
        let _ = channel.close(200, "depth read".into()).await;
        depth
    }

    /// Points stored for these packages. Progress is read from PostgreSQL
    /// (points are numbered there just before MongoDB gets them: a cheap,
    /// indexed count); once every point is numbered, the history itself is
    /// counted. Counting a large history every second would be load on the
    /// very store being measured.
    pub async fn stored_points(&self, tracking_numbers: &[String], expected: u64) -> u64 {
        let numbered =
            shared::packages::history::count_numbered_points(&self.pool, tracking_numbers)
                .await
                .unwrap_or(0);
        if (numbered.max(0) as u64) < expected {
            return numbered.max(0) as u64;
        }
        self.mongo
            .collection::<HistoryDoc>(stored::HISTORY)
            .count_documents(stored::packages_points(tracking_numbers))
            .await
            .unwrap_or(0)
    }

    /// How many of these point ids the history holds: looked up by `_id`, so
    /// cheap enough to poll while a backlog drains (an exact count of 100,000
    /// points takes the stand-in seconds, time taken from the inserts being
    /// measured).
    pub async fn stored_of(&self, point_ids: &[String]) -> u64 {
        self.mongo
            .collection::<HistoryDoc>(stored::HISTORY)
            .count_documents(stored::points(point_ids))
            .await
            .unwrap_or(0)
    }

    /// Status history rows (creations included) for these packages.
    pub async fn stored_status_events(&self, tracking_numbers: &[String]) -> u64 {
        shared::packages::history::count_status_events(&self.pool, tracking_numbers)
            .await
            .map_or(0, |n| n.max(0) as u64)
    }

    /// Waits until `stored()` reaches `expected` (true) or `timeout` (false);
    /// returns when it got there.
    pub async fn wait_stored<F, Fut>(
        &self,
        expected: u64,
        timeout: Duration,
        mut stored: F,
    ) -> (bool, u64, Duration)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = u64>,
    {
        let began = Instant::now();
        loop {
            let now = stored().await;
            if now >= expected {
                return (true, now, began.elapsed());
            }
            if began.elapsed() > timeout {
                return (false, now, began.elapsed());
            }
            // Not faster: counting is work for the stores being measured.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The resident memory of the process listening on `port`, in MiB.
    pub fn rss_mib_of_listener(port: u16) -> Option<f64> {
        let pid = listener_pid(port)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

/// The pid of the process listening on TCP `port` (through /proc).
fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if inodes
                    .iter()
                    .any(|inode| target.to_string_lossy() == *inode)
                {
                    return Some(pid);
                }
            }
        }
    }
    None
}
