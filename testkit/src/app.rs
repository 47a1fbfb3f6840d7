//! The system under test, in-process: ingest on a random port, worker pools
//! and broadcasters on demand, all against one [`TestEnv`].

use crate::TestEnv;
use ingest::IngestConfig;
use serde_json::{json, Value};
use shared::auth::{Caller, Role};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use workers::WorkerConfig;

pub const WAIT: Duration = Duration::from_secs(15);
/// How long worker pools get to stop (see [`Workers::stop`]).
const WORKERS_STOP: Duration = Duration::from_secs(30);

/// How to start a [`TestApp`].
pub struct Options {
    /// Start the worker pools with the app (else `start_workers` later).
    pub workers: bool,
    /// Send mail to the tests' SMTP server ([`crate::mail`]); otherwise
    /// the mail pool writes it to the log.
    pub mail: bool,
    /// `RECIPIENT_MAIL_DAILY_CAP`, when not the default.
    pub recipient_mail_cap: Option<u32>,
    /// Adjusts ingest's settings before it starts.
    pub ingest: Box<dyn FnOnce(&mut IngestConfig) + Send>,
    /// The test's system, when it is not the usual one (clusters, a replica).
    pub env: Option<TestEnv>,
    /// Run the webhook pool, with these settings ([`webhook_settings`]).
    pub webhooks: Option<workers::webhooks::WebhookSettings>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: true,
            mail: false,
            recipient_mail_cap: None,
            ingest: Box::new(|_| {}),
            env: None,
            webhooks: None,
        }
    }
}

impl Options {
    pub fn without_workers() -> Self {
        Self {
            workers: false,
            ..Self::default()
        }
    }

    /// On `env` (see [`TestEnv::with_config`]).
    pub fn on(env: TestEnv) -> Self {
        Self {
            env: Some(env),
            ..Self::default()
        }
    }

    /// Mail goes to the tests' SMTP server.
    pub fn with_mail(mut self) -> Self {
        self.mail = true;
        self
    }

    /// Mail goes to the tests' SMTP server, at most `cap` recipient mails
    /// per address a day.
    pub fn with_recipient_mail_cap(mut self, cap: u32) -> Self {
        self.recipient_mail_cap = Some(cap);
        self.with_mail()
    }

    /// Runs the webhook pool too, with [`webhook_settings`] adjusted by `tweak`.
    pub fn with_webhooks(
        mut self,
        tweak: impl FnOnce(&mut workers::webhooks::WebhookSettings),
    ) -> Self {
        let mut settings = webhook_settings();
        tweak(&mut settings);
        self.webhooks = Some(settings);
        self
    }

    pub fn ingest(mut self, tweak: impl FnOnce(&mut IngestConfig) + Send + 'static) -> Self {
        self.ingest = Box::new(tweak);
        self
    }
}

pub struct TestApp {
    pub env: TestEnv,
    /// Whether mail goes to the tests' SMTP server.
    mail: bool,
    recipient_mail_cap: Option<u32>,
    /// The webhook pool's settings, when it runs.
    webhooks: Option<workers::webhooks::WebhookSettings>,
    /// `http://127.0.0.1:<port>/api/v1`
    pub base: String,
    /// `http://127.0.0.1:<port>`: the OsmAnd protocol's own port.
    pub osmand: Option<String>,
    /// Sends the admin's token with every request.
    pub http: reqwest::Client,
    /// Who [`TestApp::http`] is.
    pub admin: Caller,
    stop: CancellationToken,
    server: JoinHandle<()>,
    workers: Option<Workers>,
    /// Broadcasters and extra ingest instances, stopped with the app.
    services: Vec<JoinHandle<()>>,
}

/// The settings tests run ingest with, before [`Options::ingest`] adjusts them.
pub fn ingest_config(env: &TestEnv) -> IngestConfig {
    IngestConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        outcome_timeout: Duration::from_secs(10),
        confirm_timeout: Duration::from_secs(3),
        max_connections: 256,
        // Tests send thousands of requests from one address as one caller;
        // the rate-limit tests turn limits on.
        rate_limits: ingest::rate_limit::Limits::OFF,
        osmand_listen: Some("127.0.0.1:0".parse().expect("an address")),
        webhooks: ingest::config::WebhookEdge {
            secrets: Some(env.webhook_secrets()),
            rules: shared::webhooks::target::Rules {
                allow_http: true,
                allow_private: true,
            },
            resolver: shared::webhooks::target::Resolver::System,
        },
        ..IngestConfig::new(env.config.clone(), env.auth())
    }
}

/// The webhook pool's settings in tests: receivers on loopback over plain
/// HTTP, short timeouts and retries.
pub fn webhook_settings() -> workers::webhooks::WebhookSettings {
    workers::webhooks::WebhookSettings {
        rules: shared::webhooks::target::Rules {
            allow_http: true,
            allow_private: true,
        },
        resolver: shared::webhooks::target::Resolver::System,
        timeout: Duration::from_secs(3),
        retry_first: Duration::from_millis(200),
        retry_for: Duration::from_secs(3600),
        disable_after: Duration::from_secs(3600),
        endpoint_concurrency: 4,
        concurrency: 16,
    }
}

/// The settings tests run worker pools with (mail to the log).
pub fn worker_config(env: &TestEnv) -> WorkerConfig {
    let mut config = WorkerConfig {
        prefetch: 32,
        ..WorkerConfig::new(env.config.clone())
    };
    config.mail.smtp_url = "log".into();
    // Promises are swept every second: a test waits that long, not 30 s.
    config.late_sweep_every = Duration::from_secs(1);
    // An out-for-delivery mail waits 5 s, not a minute, for an estimate.
    config.mail.recipient_eta_wait = Duration::from_secs(5);
    config
}

/// The settings tests run broadcasters with.
pub fn broadcaster_config(env: &TestEnv) -> broadcaster::BroadcasterConfig {
    broadcaster::BroadcasterConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        max_connections: 64,
        max_subscriptions: 3,
        client_queue: 64,
        ping_interval: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(30),
        ..broadcaster::BroadcasterConfig::new(env.config.clone(), env.auth())
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        // Logs only when asked for (RUST_LOG=...): tests stay quiet otherwise.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = shared::telemetry::init("testkit");
        }
        let env = match options.env {
            Some(env) => env,
            None => TestEnv::new().await,
        };
        let mut config = ingest_config(&env);
        (options.ingest)(&mut config);
        let own_broker = config.common.brokers.urls() == env.config.brokers.urls();
        let stop = CancellationToken::new();
        let app = ingest::Application::build(config, stop.clone())
            .await
            .expect("ingest builds");
        let base = format!("http://{}/api/v1", app.local_addr());
        let osmand = app.osmand_addr().map(|addr| format!("http://{addr}"));
        // An error (or a panic) fails the test at `shutdown`.
        let server = tokio::spawn(async move { app.run().await.expect("ingest runs") });
        if own_broker {
            broker_linked(&base).await;
        }
        let admin = env.account(Role::Admin).await;
        let http = client_with_token(&env.token(&admin));
        let mut test_app = Self {
            env,
            mail: options.mail,
            recipient_mail_cap: options.recipient_mail_cap,
            webhooks: options.webhooks,
            base,
            osmand,
            http,
            admin,
            stop,
            server,
            workers: None,
            services: Vec::new(),
        };
        if options.workers {
            test_app.start_workers();
        }
        test_app
    }

    /// Starts the worker pools (every pool, every shard).
    pub fn start_workers(&mut self) {
        self.workers = Some(Workers::spawn(self.workers_config()));
    }

    /// What this app's worker pools run with (mail to the tests' SMTP
    /// server when asked for).
    fn workers_config(&self) -> WorkerConfig {
        let mut config = worker_config(&self.env);
        if self.mail {
            config.mail.smtp_url = crate::mail::smtp_url();
            config.mail.public_url = self.base.trim_end_matches("/api/v1").to_owned();
        }
        if let Some(cap) = self.recipient_mail_cap {
            config.mail.recipient_daily_cap = cap;
        }
        config.webhooks = self
            .webhooks
            .clone()
            .map(|settings| workers::config::WebhookPool {
                secrets: self.env.webhook_secrets(),
                settings,
            });
        config
    }

    /// Stops the worker pools, waiting for them to hand back their work.
    pub async fn stop_workers(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.stop().await;
        }
    }

    /// [`drain_then_stop`] on this app's workers, which run again after:
    /// nothing of `queue` is in flight any more.
    pub async fn settle_queue(&mut self, queue: &str) {
        let config = self.workers_config();
        let running = self.workers.take().into_iter().collect();
        drain_then_stop(&self.env, queue, running, || Workers::spawn(config.clone())).await;
        self.start_workers();
    }

    /// Starts a broadcaster with [`broadcaster_config`] adjusted by `tweak`.
    pub async fn broadcaster(
        &mut self,
        tweak: impl FnOnce(&mut broadcaster::BroadcasterConfig),
    ) -> Broadcaster {
        let mut config = broadcaster_config(&self.env);
        tweak(&mut config);
        let stop = self.stop.child_token();
        let app = broadcaster::Application::build(config, stop.clone())
            .await
            .expect("broadcaster builds");
        let base_url = format!("ws://{}/ws", app.local_addr());
        let ops = app.ops_addr();
        let hub = app.hub();
        self.services.push(tokio::spawn(app.run()));
        let token = self.env.token(&self.admin);
        Broadcaster {
            url: crate::ws::Endpoint::new(&base_url, &token),
            token,
            base_url,
            ops,
            stop,
            hub,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A courier with an account (created by the admin through the API), so
    /// deliveries can name them, and a session (as if they had signed in).
    pub async fn courier(&self) -> Caller {
        let email = format!("courier-{}@example.test", uuid::Uuid::new_v4().simple());
        let response = self
            .post_json(
                "/users",
                &json!({"email": email, "password": "a courier's password", "name": "Carl Courier", "role": "courier"}),
            )
            .await;
        assert_eq!(response.status(), 201, "create a courier");
        let account: Value = response.json().await.expect("the account");
        let user_id = account["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id");
        Caller {
            user_id,
            role: Role::Courier,
            email: None,
            device_id: None,
            session_id: Some(self.env.session_for(user_id).await),
        }
    }

    /// Registers a device named `name` for `courier_id` as the app's admin;
    /// its id and its API key (shown only in this answer).
    pub async fn register_device(&self, courier_id: uuid::Uuid, name: &str) -> (String, String) {
        let response = self
            .post_json("/devices", &json!({"name": name, "courier_id": courier_id}))
            .await;
        assert_eq!(response.status(), 201, "register a device");
        let device: Value = response.json().await.expect("the device");
        (
            device["id"].as_str().expect("a device id").to_owned(),
            device["api_key"].as_str().expect("a device key").to_owned(),
        )
    }

    /// Registers a tracker for `courier_id` with the OsmAnd identifier
    /// `unique_id` (`None`: a generated one); its id and identifier.
    pub async fn register_tracker(
        &self,
        courier_id: uuid::Uuid,
        unique_id: Option<&str>,
    ) -> (String, String) {
        let mut body = json!({"name": "tracker", "courier_id": courier_id});
        if let Some(unique_id) = unique_id {
            body["unique_id"] = json!(unique_id);
        }
        let response = self.post_json("/devices", &body).await;
        assert_eq!(response.status(), 201, "register a tracker");
        let device: Value = response.json().await.expect("the device");
        (
            device["id"].as_str().expect("a device id").to_owned(),
            device["unique_id"]
                .as_str()
                .expect("its identifier")
                .to_owned(),
        )
    }

    /// Gives `courier` a delivery for today stopping at `stops`, in order;
    /// returns the delivery.
    pub async fn deliver(&self, courier: &Caller, stops: &[&str]) -> Value {
        let today = chrono::Utc::now().date_naive().to_string();
        let response = self
            .post_json(
                "/deliveries",
                &json!({"courier_id": courier.user_id, "day": today, "stops": stops}),
            )
            .await;
        assert_eq!(response.status(), 201, "create a delivery");
        response.json().await.expect("the delivery")
    }

    /// A second ingest instance on the same system (its own port, its own
    /// memory), stopped with the app.
    pub async fn another_ingest(&mut self, tweak: impl FnOnce(&mut IngestConfig)) -> String {
        self.another_ingest_observed(tweak).await.0
    }

    /// [`Self::another_ingest`], with its `/metrics` URL too.
    pub async fn another_ingest_observed(
        &mut self,
        tweak: impl FnOnce(&mut IngestConfig),
    ) -> (String, String) {
        let mut config = ingest_config(&self.env);
        config.metrics_listen = Some("127.0.0.1:0".parse().expect("an address"));
        tweak(&mut config);
        let app = ingest::Application::build(config, self.stop.child_token())
            .await
            .expect("ingest builds");
        let base = format!("http://{}/api/v1", app.local_addr());
        let metrics = app
            .ops_addr()
            .map(|addr| format!("http://{addr}/metrics"))
            .unwrap_or_default();
        self.services.push(tokio::spawn(async move {
            app.run().await.expect("the extra ingest runs")
        }));
        broker_linked(&base).await;
        (base, metrics)
    }

    /// A client that acts as `caller` (an account from [`Self::caller`]).
    pub fn client_as(&self, caller: &Caller) -> reqwest::Client {
        client_with_token(&self.env.token(caller))
    }

    /// A new account of `role` with a live session (see [`TestEnv::account`]).
    pub async fn caller(&self, role: Role) -> Caller {
        self.env.account(role).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// Posts one point for `tn` with a device's API key (no other
    /// credentials); the status it got.
    pub async fn post_point_as_device(&self, key: &str, tn: &str) -> u16 {
        reqwest::Client::new()
            .post(self.url(&format!("/packages/{tn}/locations")))
            .header("x-api-key", key)
            .json(&serde_json::json!({"latitude": 1.0, "longitude": 2.0}))
            .send()
            .await
            .expect("POST a point")
            .status()
            .as_u16()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn create(&self, tracking_number: &str) -> reqwest::Response {
        self.post_json("/packages", &package_body(tracking_number))
            .await
    }

    /// Creates a package and insists on 201.
    pub async fn created(&self, tracking_number: &str) {
        let response = self.create(tracking_number).await;
        assert_eq!(response.status(), 201, "create {tracking_number}");
    }

    pub async fn set_status(&self, tracking_number: &str, status: &str) -> reqwest::Response {
        self.update_status(tracking_number, json!({ "status": status }))
            .await
    }

    pub async fn update_status(&self, tracking_number: &str, body: Value) -> reqwest::Response {
        self.put_json(&format!("/packages/{tracking_number}/status"), &body)
            .await
    }

    /// Updates a package's status and insists on 200.
    pub async fn status_changed(&self, tracking_number: &str, body: Value) {
        let response = self.update_status(tracking_number, body).await;
        assert_eq!(response.status(), 200, "status of {tracking_number}");
    }

    /// Creates a package as `client` and insists on 201.
    pub async fn create_as(&self, client: &reqwest::Client, body: Value) -> Value {
        let response = client
            .post(self.url("/packages"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create");
        response.json().await.expect("a JSON body")
    }

    /// Creates a package as a customer and returns its (assigned) number.
    pub async fn create_as_customer(&self, client: &reqwest::Client, body: Value) -> String {
        let package = self.create_as(client, body).await;
        package["tracking_number"].as_str().unwrap().to_owned()
    }

    /// A package's location history once it holds `expected` points.
    pub async fn history(&self, tracking_number: &str, expected: usize) -> Vec<Value> {
        crate::eventually(WAIT, "the history", || async {
            let items: Vec<Value> = self
                .get(&format!("/packages/{tracking_number}/locations"))
                .await
                .json()
                .await
                .ok()?;
            (items.len() == expected).then_some(items)
        })
        .await
    }

    pub async fn package_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM packages")
            .fetch_one(&self.env.pool)
            .await
            .expect("count packages")
    }

    pub async fn shutdown(mut self) {
        self.stop_workers().await;
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("ingest stops")
            .expect("server task");
        for service in self.services {
            tokio::time::timeout(WAIT, service)
                .await
                .expect("a broadcaster or extra ingest stops")
                .expect("its task");
        }
    }
}

/// A running broadcaster: its `/ws` URL, its own stop, its hub (metrics).
pub struct Broadcaster {
    /// `/ws` as the app's admin.
    pub url: crate::ws::Endpoint,
    /// The admin's access token.
    pub token: String,
    /// `/ws`.
    pub base_url: String,
    /// Where its `/metrics` and health probes are.
    pub ops: Option<std::net::SocketAddr>,
    pub stop: CancellationToken,
    pub hub: Arc<broadcaster::hub::Hub>,
}

impl Broadcaster {
    /// `/ws/public`.
    pub fn public_url(&self) -> String {
        self.base_url.replace("/ws", "/ws/public")
    }
}

/// Worker pools running in this process until stopped.
pub struct Workers {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Workers {
    pub fn spawn(config: WorkerConfig) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task =
            tokio::spawn(async move { workers::run(config, token).await.expect("workers run") });
        Self { stop, task }
    }

    /// Stops them and waits; they finish the window in flight first, which
    /// with every test of the suite sharing one MongoDB stand-in (a single
    /// Python process) has been seen to take over 15 s, so they get 30.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(WORKERS_STOP, self.task)
            .await
            .expect("workers stop in time")
            .expect("workers task");
    }
}

/// Lets `workers` empty `queue`, then stops them, until nothing is left in
/// it. Stopping finishes the window in flight; what a worker had prefetched
/// but not started goes back to the queue, and `respawn` takes it. Returns
/// once the queue is empty with no consumer holding anything: every message
/// was applied and acknowledged.
pub async fn drain_then_stop(
    env: &crate::TestEnv,
    queue: &str,
    mut workers: Vec<Workers>,
    respawn: impl Fn() -> Workers,
) {
    loop {
        crate::eventually(WAIT, "the queue to drain", || async {
            (env.queue_depth(queue).await == 0).then_some(())
        })
        .await;
        for worker in workers.drain(..) {
            worker.stop().await;
        }
        if env.queue_depth(queue).await == 0 {
            return;
        }
        workers.push(respawn());
    }
}

/// A client that sends `Authorization: Bearer <token>` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("a token is a valid header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The status `GET {base}{path}` answers `token`'s bearer.
pub async fn status_as(base: &str, token: &str, path: &str) -> u16 {
    client_with_token(token)
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("a response")
        .status()
        .as_u16()
}

pub fn tracking_number() -> String {
    format!(
        "TRK{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase()
    )
}

pub fn package_body(tracking_number: &str) -> Value {
    json!({
        "tracking_number": tracking_number,
        "sender_name": "Ann Sender",
        "sender_address": "1 Main St, Newark",
        "recipient_name": "Bob Recipient",
        "recipient_address": "2 High St, Boston",
        "weight": 2.5,
        "description": "Books"
    })
}

/// Asserts the status and that the body is `{"error": "<non-empty>"}` JSON;
/// returns the message.
/// Waits (up to [`WAIT`]) until the ingest at `base` has its broker link:
/// it starts serving after 5 s without one (writes answer 503 until then),
/// and on a loaded machine the first connection can take longer. Not an
/// assertion: a test that needs the link fails on its own writes.
async fn broker_linked(base: &str) {
    let ready = format!("{base}/health/ready");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let response = client.get(&ready).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A package body without a tracking number: what a customer sends (the
/// server assigns theirs).
pub fn customer_package_body() -> Value {
    let mut body = package_body("unused");
    body.as_object_mut().unwrap().remove("tracking_number");
    body
}

pub async fn expect_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = response.json().await.expect("a JSON error body");
    let message = body["error"].as_str().expect("an error field").to_owned();
    assert!(!message.is_empty());
    message
}
