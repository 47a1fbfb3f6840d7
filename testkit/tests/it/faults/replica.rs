//! With a read replica (`DATABASE_READ_URL`) whose replay is paused: every
//! client still reads its own writes at once (from the primary), a client
//! that wrote nothing is served by the replica meanwhile, and once replay
//! resumes the writers' reads come from the replica again.
//!
//! The replica is the test scripts' (`scripts/services.sh`), started here
//! if it is not running.

use serde_json::{json, Value};
use shared::auth::Role;
use std::time::Duration;
use testkit::app::{client_with_token, package_body, tracking_number, Options, TestApp};
use testkit::services;
use testkit::TestEnv;

/// Clients writing and reading their own writes while replay is paused.
const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "pauses the test scripts' PostgreSQL replica: run alone (scripts/test.sh does)"]
async fn with_replay_paused_every_client_still_reads_its_own_writes() {
    let port = tokio::task::spawn_blocking(services::pg_replica)
        .await
        .expect("the replica");
    let env = TestEnv::with_config(4, |config| {
        let replica = testkit::with_host(&config.database_url, ([127, 0, 0, 1], port).into());
        config.database_read_url = Some(replica);
    })
    .await;
    let replica_admin = testkit::with_database(
        &testkit::with_host(&env.config.database_url, ([127, 0, 0, 1], port).into()),
        "postgres",
    );
    let mut app = TestApp::spawn_with(Options::on(env)).await;
    // Lag allowed long enough that the replica keeps serving those who
    // wrote nothing while it is paused.
    let (base, metrics) = app
        .another_ingest_observed(|config| config.read_max_lag = Duration::from_secs(60))
        .await;
    let writer = client_with_token(&app.env.token(&app.env.account(Role::Admin).await));
    let reader = client_with_token(&app.env.token(&app.env.account(Role::Dispatcher).await));
    let tn = tracking_number();
    create(&writer, &base, &tn).await;
    testkit::eventually(
        Duration::from_secs(10),
        "the replica to serve the package",
        || async { (events(&reader, &base, &tn).await.len() == 1).then_some(()) },
    )
    .await;

    let replay = Replay::connect(&replica_admin).await;
    replay.pause().await;
    let moved = put(
        &writer,
        &format!("{base}/packages/{tn}/status"),
        json!({"status": "in_transit"}),
    )
    .await;
    assert_eq!(moved, 200);
    assert_eq!(
        events(&writer, &base, &tn).await.len(),
        2,
        "the writer reads its own write"
    );
    let package = get(&writer, &format!("{base}/packages/{tn}")).await;
    assert_eq!(package["status"], "in_transit");
    assert_eq!(
        events(&reader, &base, &tn).await.len(),
        1,
        "the others read the paused replica"
    );
    every_writer_reads_its_own_writes(&app, &base).await;

    replay.resume().await;
    testkit::eventually(
        Duration::from_secs(10),
        "the replica to catch up",
        || async { (events(&reader, &base, &tn).await.len() == 2).then_some(()) },
    )
    .await;
    testkit::eventually(
        Duration::from_secs(10),
        "the writer's reads back on the replica",
        || async {
            let before = replica_reads(&metrics).await;
            let read = events(&writer, &base, &tn).await;
            (read.len() == 2 && replica_reads(&metrics).await > before).then_some(())
        },
    )
    .await;
    app.shutdown().await;
}

/// More clients, each creating a package and reading it (and the list)
/// right away, all while replay is paused.
async fn every_writer_reads_its_own_writes(app: &TestApp, base: &str) {
    for _ in 0..WRITERS {
        let client = client_with_token(&app.env.token(&app.env.account(Role::Admin).await));
        let tn = tracking_number();
        create(&client, base, &tn).await;
        let package = get(&client, &format!("{base}/packages/{tn}")).await;
        assert_eq!(package["tracking_number"], tn.as_str());
        let listed = get(&client, &format!("{base}/packages?limit=100")).await;
        let listed = listed.as_array().expect("a list");
        assert!(
            listed.iter().any(|p| p["tracking_number"] == tn.as_str()),
            "{tn} listed"
        );
    }
}

async fn create(client: &reqwest::Client, base: &str, tn: &str) {
    let created = client
        .post(format!("{base}/packages"))
        .json(&package_body(tn))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}

async fn events(client: &reqwest::Client, base: &str, tn: &str) -> Vec<Value> {
    let read = get(client, &format!("{base}/packages/{tn}/events")).await;
    read.as_array().cloned().unwrap_or_default()
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn put(client: &reqwest::Client, url: &str, body: Value) -> u16 {
    client
        .put(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn replica_reads(metrics: &str) -> f64 {
    testkit::metrics::scrape(metrics).await.value(
        "delivertrack_ingest_db_reads_total",
        &[("source", "replica")],
    )
}

/// The replica's WAL replay, paused and resumed.
struct Replay(String);

impl Replay {
    async fn connect(url: &str) -> Self {
        Self(url.to_owned())
    }

    async fn pause(&self) {
        run(&self.0, "SELECT pg_wal_replay_pause()").await;
    }

    async fn resume(&self) {
        run(&self.0, "SELECT pg_wal_replay_resume()").await;
    }
}

async fn run(url: &str, statement: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.expect("the replica");
    sqlx::query(statement)
        .execute(&mut connection)
        .await
        .unwrap();
}

impl Drop for Replay {
    /// A failing test must not leave the shared replica paused.
    fn drop(&mut self) {
        let url = self.0.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(run(&url, "SELECT pg_wal_replay_resume()"));
            }
        })
        .join()
        .ok();
    }
}
