//! One isolated slice of the real services per test, removed when the test ends.
//!
//! [`TestEnv::new`] creates a PostgreSQL database (migrated), a broker namespace
//! (exchanges and queues under a unique prefix), a Redis key prefix and a
//! MongoDB database name, all derived from one random id, so tests run in
//! parallel against the same servers and leave nothing behind, even when they
//! panic (cleanup runs in `Drop`).
//!
//! The servers come from the usual variables (`DATABASE_URL` names the server;
//! the test's own database replaces its path), with localhost defaults.
//!
//! - [`app`]: ingest, worker pools and broadcasters spawned in-process on a
//!   [`TestEnv`], and HTTP helpers.
//! - [`ws`]: a WebSocket client for the broadcaster's protocol.
//! - [`bins`]: the workspace's binaries, for tests that run them as processes.
//! - [`mail`]: what the system mailed, as the tests' SMTP server received it.
//! - [`metrics`]: scraping a service's `/metrics` as Prometheus does.
//! - [`proxy`]: a TCP proxy that can cut a service off and bring it back.
//! - [`wire_count`]: proxies that count the commands a client sends a
//!   database, to pin the shape of a write path.
//! - [`services`]: stopping and starting the machine's services (the fault
//!   suite), and running the binaries as processes.
//!
//! Every integration test lives in one binary, `tests/it`, so the workspace
//! links one test executable instead of one per file.

pub mod app;
pub mod bins;
pub mod mail;
pub mod metrics;
pub mod proxy;
pub mod services;
pub mod wire_count;
pub mod ws;

use futures_util::StreamExt;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use shared::auth::{AuthConfig, Caller, Role, Tokens};
use shared::config::CommonConfig;
use shared::topology::Topology;
use sqlx::postgres::PgPool;
use sqlx::Connection as _;
use std::time::Duration;

/// The first admin of systems the tests run as processes (the password is
/// [`TestEnv::admin_password`], new for every test).
pub const BOOTSTRAP_ADMIN_EMAIL: &str = "admin@example.test";

/// A caller of `role` with a fresh id and email, and no account behind it:
/// for principals of messages a test publishes itself. To call the
/// services, take an account: [`TestEnv::account`].
pub fn caller(role: Role) -> Caller {
    let id = uuid::Uuid::new_v4();
    Caller {
        user_id: id,
        role,
        email: shared::domain::Email::parse(&format!("{role}-{}@example.test", id.simple())).ok(),
        device_id: None,
        session_id: None,
    }
}

/// The principal of a dispatcher, for commands a test publishes itself.
pub fn dispatcher() -> shared::wire::Principal {
    caller(Role::Dispatcher).principal()
}

pub struct TestEnv {
    pub id: String,
    pub config: CommonConfig,
    /// This test's HS256 secret: its services trust only tokens made with it.
    pub jwt_secret: String,
    /// The `MESSAGE_SIGNING_KEY` of this test's services (id `test`).
    pub signing_key: String,
    /// The bootstrap admin's password of systems this test runs as processes.
    pub admin_password: String,
    pub pool: PgPool,
    admin_url: String,
    amqp: Connection,
    channel: Channel,
}

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database path replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// The `host:port` a service URL names (after any credentials).
pub fn host_port(url: &str) -> String {
    let (_, authority, _) = split_authority(url);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// `url` with its `host:port` replaced by `addr` (credentials, path and
/// query kept): the service seen through a proxy.
pub fn with_host(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, authority, rest) = split_authority(url);
    let credentials = authority.rsplit_once('@').map_or("", |(c, _)| c);
    let at = if credentials.is_empty() { "" } else { "@" };
    format!("{scheme}{credentials}{at}{addr}{rest}")
}

/// `scheme://`, the authority, and the rest (path and query) of a URL.
fn split_authority(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    (
        &url[..scheme_end],
        &url[scheme_end..authority_end],
        &url[authority_end..],
    )
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_shards(4).await
    }

    pub async fn with_shards(shards: u16) -> Self {
        Self::with_config(shards, |_| {}).await
    }

    /// A test's own system on backing services `adjust` chooses (a broker
    /// cluster, a Redis Cluster, a read replica), the rest as usual.
    pub async fn with_config(shards: u16, adjust: impl FnOnce(&mut CommonConfig)) -> Self {
        let id = format!(
            "dt_{}",
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..12)
                .unwrap_or("x")
        );
        let admin_url = with_database(&server_url(), "postgres");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL is not reachable");
        sqlx::query(&format!("CREATE DATABASE {id}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;

        // A signing key of the test's own: its services trust only messages
        // it sealed.
        let signing_key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let keys = shared::wire::SigningKeys::new("test", signing_key.as_bytes(), None);
        let mut config = CommonConfig::from_env_with_keys(keys).expect("service configuration");
        config.database_url = with_database(&server_url(), &id);
        config.redis_prefix = format!("{id}:");
        config.mongodb_database = id.clone();
        config.topology = Topology::new(id.clone(), shards);
        adjust(&mut config);

        let pool = PgPool::connect(&config.database_url)
            .await
            .expect("connect to the test database");
        shared::db::migrate(&pool).await.expect("migrations");
        let amqp = config
            .brokers
            .connect(&format!("test-{id}"))
            .await
            .expect("RabbitMQ is not reachable");
        config
            .topology
            .declare(&amqp)
            .await
            .expect("declare topology");
        let channel = amqp.create_channel().await.expect("channel");
        Self {
            signing_key,
            jwt_secret: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            admin_password: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            id,
            config,
            pool,
            admin_url,
            amqp,
            channel,
        }
    }

    /// A connection to the server's `postgres` database, for tests that
    /// administer their own database (e.g. to simulate an outage).
    pub async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("admin connection")
    }

    /// Simulates a database outage (`false`: new connections refused, existing
    /// ones cut) or its end (`true`).
    pub async fn set_database_available(&self, available: bool) {
        let mut admin = self.admin().await;
        sqlx::query(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {available}",
            self.id
        ))
        .execute(&mut admin)
        .await
        .expect("alter database");
        if !available {
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                .bind(&self.id)
                .execute(&mut admin)
                .await
                .expect("terminate connections");
        }
    }

    /// The authentication the test's services run with.
    pub fn auth(&self) -> AuthConfig {
        AuthConfig::Enabled(std::sync::Arc::new(self.tokens()))
    }

    pub fn tokens(&self) -> Tokens {
        Tokens::hs256(self.jwt_secret.as_bytes(), Duration::from_secs(3600))
    }

    /// A valid access token for `caller` (an account from [`Self::account`]:
    /// the services check its session).
    pub fn token(&self, caller: &Caller) -> String {
        self.tokens().issue(caller).expect("a token").token
    }

    /// A new account of `role`, its email verified, with a live session,
    /// written straight to this test's database: what signing up, following
    /// the mailed link and signing in would leave behind.
    pub async fn account(&self, role: Role) -> Caller {
        let mut caller = caller(role);
        let email = caller.email.as_ref().expect("an email").as_str().to_owned();
        sqlx::query(
            "INSERT INTO users (id, email, name, role, created_at, email_verified_at) \
             VALUES ($1, $2, $3, $4, now(), now())",
        )
        .bind(caller.user_id)
        .bind(&email)
        .bind(format!("Test {role}"))
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .expect("insert an account");
        caller.session_id = Some(self.session_for(caller.user_id).await);
        caller
    }

    /// A live session of an existing account, as a sign-in leaves it.
    pub async fn session_for(&self, user_id: uuid::Uuid) -> uuid::Uuid {
        let session = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at) \
             VALUES ($1, $2, $3, now(), now(), now() + interval '1 day')",
        )
        .bind(session)
        .bind(user_id)
        .bind(shared::auth::api_key::random_hex(32))
        .execute(&self.pool)
        .await
        .expect("insert a session");
        session
    }

    /// The `WEBHOOK_SECRET_KEY` of this test's services.
    pub fn webhook_key(&self) -> String {
        format!("webhooks-{}", self.signing_key)
    }

    pub fn webhook_secrets(&self) -> shared::webhooks::secret::WebhookSecrets {
        shared::webhooks::secret::WebhookSecrets::new(self.webhook_key().as_bytes())
    }

    /// What the workspace's binaries need in their environment to run as
    /// this test's system (its database, prefixes, secret, first admin).
    pub fn service_env(&self) -> Vec<(String, String)> {
        let config = &self.config;
        [
            ("DATABASE_URL", config.database_url.clone()),
            ("REDIS_URL", config.redis_url.clone()),
            ("REDIS_CLUSTER_URLS", config.redis_cluster_urls.join(",")),
            ("REDIS_PREFIX", config.redis_prefix.clone()),
            ("AMQP_URLS", config.brokers.urls().join(",")),
            ("AMQP_PREFIX", self.topology().prefix().to_owned()),
            (
                "PACKAGE_SHARDS",
                self.topology().package_shards().to_string(),
            ),
            ("MONGODB_URL", config.mongodb_url.clone()),
            ("MONGODB_DATABASE", config.mongodb_database.clone()),
            ("JWT_SECRET", self.jwt_secret.clone()),
            ("MESSAGE_SIGNING_KEY", self.signing_key.clone()),
            ("MESSAGE_SIGNING_KEY_ID", "test".to_owned()),
            ("WEBHOOK_SECRET_KEY", self.webhook_key()),
            // Tests' receivers listen on loopback, over plain HTTP.
            ("WEBHOOK_ALLOW_HTTP", "true".to_owned()),
            ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
            // Any free port: tests run workers side by side (and beside a
            // system started by scripts/up.sh on the default port).
            ("METRICS_LISTEN", "127.0.0.1:0".to_owned()),
            ("OSMAND_LISTEN", "127.0.0.1:0".to_owned()),
            ("BOOTSTRAP_ADMIN_EMAIL", BOOTSTRAP_ADMIN_EMAIL.to_owned()),
            ("BOOTSTRAP_ADMIN_PASSWORD", self.admin_password.clone()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    pub fn topology(&self) -> &Topology {
        &self.config.topology
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// A fresh channel on the test's broker connection.
    pub async fn new_channel(&self) -> Channel {
        self.amqp.create_channel().await.expect("channel")
    }

    /// Publishes a command the way ingest does (persistent, confirmed, to its shard).
    pub async fn publish_command(&self, envelope: &shared::wire::Envelope<shared::wire::Command>) {
        let kind = envelope.body.kind();
        let key = self
            .topology()
            .package_routing_key(&envelope.body.shard_key(), kind);
        shared::amqp::publish_envelope(
            self.channel(),
            &self.config.signing,
            &self.topology().commands_exchange(),
            &key,
            envelope,
            kind,
            shared::amqp::Routing::Mandatory,
            Duration::from_secs(5),
        )
        .await
        .expect("publish command");
    }

    /// Publishes a mail request the way the worker pools do (a broker
    /// replaying one is this, twice).
    pub async fn publish_mail(&self, envelope: &shared::wire::Envelope<shared::wire::MailRequest>) {
        shared::amqp::publish_envelope(
            self.channel(),
            &self.config.signing,
            &self.topology().commands_exchange(),
            Topology::MAIL_ROUTING_KEY,
            envelope,
            "mail",
            shared::amqp::Routing::Mandatory,
            Duration::from_secs(5),
        )
        .await
        .expect("publish a mail request");
    }

    /// Publishes a location batch the way ingest does.
    pub async fn publish_locations(
        &self,
        envelope: &shared::wire::Envelope<shared::wire::LocationBatch>,
    ) {
        shared::amqp::publish_envelope(
            self.channel(),
            &self.config.signing,
            &self.topology().commands_exchange(),
            Topology::LOCATION_ROUTING_KEY,
            envelope,
            "location",
            shared::amqp::Routing::Mandatory,
            Duration::from_secs(5),
        )
        .await
        .expect("publish locations");
    }

    /// A package's event counter: every stored status event and history
    /// point takes the next number, so unlike rows keyed by a unique id it
    /// counts a write applied twice.
    pub async fn event_seq(&self, tracking_number: &str) -> i64 {
        sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
            .bind(tracking_number)
            .fetch_one(&self.pool)
            .await
            .expect("the package's event counter")
    }

    /// Messages ready in `queue`, not counting unacknowledged ones (see
    /// [`crate::app::drain_then_stop`] for "nothing left in flight").
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let channel = self.new_channel().await;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue exists");
        declared.message_count()
    }

    /// Total ready messages over every package shard queue.
    pub async fn package_queue_depth(&self) -> u32 {
        let mut total = 0;
        for shard in 0..self.topology().package_shards() {
            total += self
                .queue_depth(&self.topology().package_queue(shard))
                .await;
        }
        total
    }

    /// Takes one message off `queue`, waiting up to `timeout` for it.
    pub async fn get_message(
        &self,
        queue: &str,
        timeout: Duration,
    ) -> Option<lapin::message::Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self
                .channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic_get");
            if let Some(message) = got {
                return Some(message.delivery);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A queue bound to every event of the events exchange, deleted with the env.
    pub async fn event_tap(&self) -> lapin::Consumer {
        let channel = self.new_channel().await;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("tap queue");
        channel
            .queue_bind(
                queue.name().clone(),
                self.topology().events_exchange().into(),
                "#".into(),
                Default::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind tap");
        channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume tap")
    }

    /// The test's own MongoDB database.
    pub async fn mongo(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(&self.config.mongodb_url)
            .await
            .expect("MongoDB URL")
            .database(&self.config.mongodb_database)
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.config.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis is not reachable")
    }
}

/// Waits, if needed, until the current minute has at least 20 s left. Rate
/// limits count in whole wall-clock minutes: a test that straddled two
/// would see its budget twice and pass or fail by the clock.
pub async fn in_one_minute_window() {
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| now.as_secs() % 60)
        .unwrap_or(0);
    if second >= 40 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

/// Waits until `check` returns `Some`, polling, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestEnv {
    /// Takes the next event from a tap, its seal opened and decoded.
    pub async fn next_event(
        &self,
        tap: &mut lapin::Consumer,
        timeout: Duration,
    ) -> Option<shared::wire::Envelope<shared::wire::Event>> {
        let delivery = tokio::time::timeout(timeout, tap.next())
            .await
            .ok()??
            .ok()?;
        Some(
            shared::wire::Envelope::open(&delivery.data, &self.config.signing)
                .expect("a sealed event"),
        )
    }

    /// A message as it came off the broker, opened with the test's keys.
    pub fn open<B: serde::de::DeserializeOwned>(&self, data: &[u8]) -> shared::wire::Envelope<B> {
        shared::wire::Envelope::open(data, &self.config.signing).expect("a sealed message")
    }
}

/// Kills a child process if the test fails before it exits, so no process
/// outlives its test.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let id = self.id.clone();
        let admin_url = self.admin_url.clone();
        let config = self.config.clone();
        // Drop cannot await, and the test's runtime may be shutting down: clean up
        // on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(amqp) = config.brokers.connect("test-cleanup").await {
                    // Twice, on fresh channels: a failed delete closes its channel,
                    // and a client of the test still reconnecting may re-declare.
                    for _ in 0..2 {
                        if let Ok(channel) = amqp.create_channel().await {
                            let _ = config.topology.delete(&channel).await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    let _ = amqp.close(200, "cleanup".into()).await;
                }
                // Each node of a cluster holds its own keys (a replica
                // refuses the DEL; its primary takes it).
                let mut nodes = config.redis_cluster_urls.clone();
                nodes.push(config.redis_url.clone());
                for node in nodes {
                    let Ok(client) = redis::Client::open(node.as_str()) else {
                        continue;
                    };
                    if let Ok(mut redis) = client.get_multiplexed_async_connection().await {
                        // Plain keys, and the hash-tagged ones (`{<prefix>...}:...`).
                        let prefix = &config.redis_prefix;
                        for pattern in [format!("{prefix}*"), format!("{{{prefix}*")] {
                            let keys: Vec<String> = redis::cmd("KEYS")
                                .arg(pattern)
                                .query_async(&mut redis)
                                .await
                                .unwrap_or_default();
                            // One by one: a cluster refuses keys of several
                            // slots in one command.
                            for key in keys {
                                let _: Result<(), _> =
                                    redis::cmd("DEL").arg(key).query_async(&mut redis).await;
                            }
                        }
                    }
                }
                if let Ok(client) = mongodb::Client::with_uri_str(&config.mongodb_url).await {
                    let _ = client.database(&config.mongodb_database).drop().await;
                }
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {id} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A valid location point for `tracking_number`, recorded now.
pub fn location_point(tracking_number: &str) -> shared::wire::LocationPoint {
    let now = chrono::Utc::now();
    shared::wire::LocationPoint {
        point_id: uuid::Uuid::new_v4(),
        tracking_number: shared::domain::TrackingNumber::parse(tracking_number)
            .expect("a valid tracking number"),
        coordinates: shared::domain::Coordinates::new(1.0, 2.0).expect("valid coordinates"),
        address: None,
        measurements: shared::locations::Measurements::default(),
        recorded_at: chrono::SubsecRound::trunc_subsecs(now, 3),
        received_at: chrono::SubsecRound::trunc_subsecs(now, 3),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_path() {
        assert_eq!(
            with_database("postgres://u@h:5432/app", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/app?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
