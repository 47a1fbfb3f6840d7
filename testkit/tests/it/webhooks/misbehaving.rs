//! Receivers that misbehave: one that never answers holds only its own
//! endpoint's places and is timed out and retried; a redirect is a failed
//! attempt whose target is never called; an enormous answer is logged by its
//! first bytes; a delivery failing past its retry window ends `failed` and
//! nothing more is sent.

use super::receiver::{Answer, Receiver};
use super::{deliveries, register, DELIVERY_WAIT};
use serde_json::Value;
use std::time::Duration;
use testkit::app::{package_body, tracking_number, Options, TestApp};

/// Packages created, each one delivery per endpoint.
const PACKAGES: usize = 6;
/// The webhook pool's per-endpoint places in tests (`webhook_settings`).
const PLACES: usize = 4;

/// An endpoint's log once every delivery in it reached `state`.
async fn log_when_all(app: &TestApp, webhook: &Value, count: usize, state: &str) -> Vec<Value> {
    let id = webhook["id"].as_str().unwrap();
    let what = format!("{count} deliveries {state}");
    testkit::eventually(Duration::from_secs(40), &what, || async {
        let log = deliveries(app, &app.http, id).await;
        (log.len() == count && log.iter().all(|d| d["state"] == state)).then_some(log)
    })
    .await
}

fn attempts(delivery: &Value) -> Vec<Value> {
    delivery["attempts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_silent_redirecting_or_enormous_receiver_is_logged_and_holds_no_other_endpoint() {
    let timeout = Duration::from_secs(10);
    let app = TestApp::spawn_with(Options::default().with_webhooks(|s| s.timeout = timeout)).await;
    let silent = Receiver::start(vec![Answer::Hold; PLACES]).await;
    let quick = Receiver::start(Vec::new()).await;
    let elsewhere = Receiver::start(Vec::new()).await;
    let redirecting = Receiver::start(vec![Answer::Redirect(elsewhere.url())]).await;
    let enormous = Receiver::start(vec![Answer::Big(4 << 20); PACKAGES]).await;
    let mut webhooks = Vec::new();
    for receiver in [&silent, &quick, &redirecting, &enormous] {
        webhooks.push(register(&app, &app.http, &receiver.url(), &["created"]).await);
    }
    let started = std::time::Instant::now();
    for _ in 0..PACKAGES {
        app.post_json("/packages", &package_body(&tracking_number()))
            .await;
    }

    // The silent receiver holds its endpoint's places, not the pool's.
    quick.wait_for(PACKAGES, DELIVERY_WAIT).await;
    assert!(
        started.elapsed() < timeout,
        "the other endpoint was served while the silent one held its places"
    );
    silent.wait_for(PLACES, timeout / 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < timeout,
        "the silent receiver's first attempts are still held"
    );
    assert_eq!(
        silent.received().len(),
        PLACES,
        "one endpoint has at most its places in flight"
    );

    // Each held attempt timed out, was logged so, and was retried.
    let log = log_when_all(&app, &webhooks[0], PACKAGES, "delivered").await;
    let timed_out: Vec<Value> = log
        .iter()
        .flat_map(attempts)
        .filter(|a| a["error"] == "timed out")
        .collect();
    assert_eq!(timed_out.len(), PLACES, "{log:?}");
    assert!(timed_out.iter().all(|a| a["status_code"].is_null()));
    assert!(timed_out
        .iter()
        .all(|a| a["duration_ms"].as_i64().unwrap_or(0) >= timeout.as_millis() as i64 - 100));

    // A redirect is a failure, and where it points is never called.
    let log = log_when_all(&app, &webhooks[2], PACKAGES, "delivered").await;
    let codes: Vec<Vec<i64>> = log
        .iter()
        .map(|d| {
            attempts(d)
                .iter()
                .map(|a| a["status_code"].as_i64().unwrap_or(0))
                .collect()
        })
        .collect();
    assert!(codes.contains(&vec![302, 200]), "{codes:?}");
    assert!(elsewhere.received().is_empty(), "a redirect was followed");

    // An enormous answer: delivered, its first 512 bytes kept.
    let log = log_when_all(&app, &webhooks[3], PACKAGES, "delivered").await;
    for delivery in &log {
        let attempts = attempts(delivery);
        assert_eq!(attempts.len(), 1, "{delivery}");
        assert_eq!(attempts[0]["response_head"], "x".repeat(512));
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_delivery_failing_past_its_retry_window_ends_failed_and_stops() {
    let app = TestApp::spawn_with(
        Options::default().with_webhooks(|s| s.retry_for = Duration::from_secs(2)),
    )
    .await;
    let receiver = Receiver::start(vec![Answer::Status(500); 1000]).await;
    let webhook = register(&app, &app.http, &receiver.url(), &["created"]).await;
    app.post_json("/packages", &package_body(&tracking_number()))
        .await;

    let log = log_when_all(&app, &webhook, 1, "failed").await;
    let tried = attempts(&log[0]);
    assert!(tried.len() >= 2, "retried before giving up: {log:?}");
    assert!(tried.iter().all(|a| a["status_code"] == 500));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.received().len(),
        tried.len(),
        "nothing is sent after a delivery failed for good"
    );
    let read: Value = app
        .get(&format!("/webhooks/{}", webhook["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        read["disabled_at"].is_null(),
        "one failed delivery disables nothing: {read}"
    );
    app.shutdown().await;
}
