//! How the ingest behaves when parts of the system are slow or down.

use serde_json::Value;
use std::time::Duration;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp, WAIT};

#[tokio::test]
async fn with_workers_stopped_an_async_create_is_accepted_and_applied_later() {
    let mut app = TestApp::spawn_with(Options::without_workers()).await;
    let tn = tracking_number();
    let accepted = app
        .http
        .post(app.url("/packages"))
        .header("prefer", "respond-async")
        .json(&package_body(&tn))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(body["event_id"].as_str().unwrap()).is_ok());
    assert_eq!(
        app.env.package_queue_depth().await,
        1,
        "the command waits in its queue"
    );
    expect_error(app.get(&format!("/packages/{tn}")).await, 404).await;

    app.start_workers();
    testkit::eventually(WAIT, "the package after the workers start", || async {
        (app.get(&format!("/packages/{tn}")).await.status() == 200).then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_outcome_that_does_not_come_in_time_answers_202() {
    let app = TestApp::spawn_with(
        Options::without_workers().ingest(|c| c.outcome_timeout = Duration::from_millis(300)),
    )
    .await;
    let response = app.create(&tracking_number()).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert!(body["event_id"].is_string());
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_broker_writes_answer_503_with_retry_after() {
    let app = TestApp::spawn_with(Options::without_workers().ingest(|c| {
        c.common.brokers =
            shared::brokers::Brokers::new(vec!["amqp://guest:guest@127.0.0.1:1/%2f".into()])
    }))
    .await;
    let response = app.create(&tracking_number()).await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 503).await;
    let response = app.set_status(&tracking_number(), "in_transit").await;
    expect_error(response, 503).await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["rabbitmq"], "unhealthy");
    assert_eq!(health["database"], "healthy");
    app.shutdown().await;
}

#[tokio::test]
async fn a_redis_outage_degrades_reads_to_the_database() {
    let app = TestApp::spawn_with(
        Options::default().ingest(|c| c.common.redis_url = "redis://127.0.0.1:1".into()),
    )
    .await;
    let tn = tracking_number();
    assert_eq!(app.create(&tn).await.status(), 201);
    for _ in 0..2 {
        let response = app.get(&format!("/packages/{tn}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-cache"], "MISS");
    }
    assert_eq!(
        app.set_status(&tn, "in_transit").await.status(),
        200,
        "writes do not need Redis"
    );
    let health = app.get("/health").await;
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["redis"], "unhealthy");
    assert_eq!(health["rabbitmq"], "healthy");
    app.shutdown().await;
}
