//! Spawns ingest (and optionally a worker pool) on a random port against a
//! fresh [`TestEnv`].

#![allow(dead_code)]

use ingest::{Application, IngestConfig};
use serde_json::{json, Value};
use std::time::Duration;
use testkit::TestEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(15);

pub struct TestApp {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
    server: JoinHandle<()>,
    worker: Option<(CancellationToken, JoinHandle<()>)>,
}

pub struct Options {
    pub workers: bool,
    pub outcome_timeout: Duration,
    pub amqp_url: Option<String>,
    pub redis_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: true,
            outcome_timeout: Duration::from_secs(10),
            amqp_url: None,
            redis_url: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let env = TestEnv::new().await;
        let mut common = env.config.clone();
        if let Some(url) = options.amqp_url {
            common.amqp_url = url;
        }
        if let Some(url) = options.redis_url {
            common.redis_url = url;
        }
        let config = IngestConfig {
            common,
            listen: "127.0.0.1:0".parse().unwrap(),
            outcome_timeout: options.outcome_timeout,
            confirm_timeout: Duration::from_secs(3),
            max_body_bytes: 64 * 1024,
            max_connections: 256,
            locations: ingest::routes::locations::PointRules {
                max_future_skew: Duration::from_secs(300),
                max_age: Duration::from_secs(7 * 24 * 3600),
                batch_max_points: 1000,
                batch_max_bytes: 1024 * 1024,
            },
        };
        let stop = CancellationToken::new();
        let app = Application::build(config, stop.clone())
            .await
            .expect("ingest builds");
        let base = format!("http://{}/api/v1", app.local_addr());
        let server = tokio::spawn(app.run());
        let mut test_app = Self {
            env,
            base,
            http: reqwest::Client::new(),
            stop,
            server,
            worker: None,
        };
        if options.workers {
            test_app.start_workers();
        }
        test_app
    }

    pub fn start_workers(&mut self) {
        let config = workers::WorkerConfig {
            common: self.env.config.clone(),
            prefetch: 32,
            shards: (0..self.env.topology().package_shards()).collect(),
            confirm_timeout: Duration::from_secs(5),
            run_packages: true,
            run_locations: true,
        };
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task =
            tokio::spawn(async move { workers::run(config, token).await.expect("workers run") });
        self.worker = Some((stop, task));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
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

    pub async fn set_status(&self, tracking_number: &str, status: &str) -> reqwest::Response {
        self.put_json(
            &format!("/packages/{tracking_number}/status"),
            &json!({ "status": status }),
        )
        .await
    }

    pub async fn package_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM packages")
            .fetch_one(&self.env.pool)
            .await
            .unwrap()
    }

    pub async fn shutdown(self) {
        if let Some((stop, task)) = self.worker {
            stop.cancel();
            tokio::time::timeout(WAIT, task)
                .await
                .expect("workers stop")
                .expect("worker task");
        }
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("ingest stops")
            .expect("server task");
    }
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
