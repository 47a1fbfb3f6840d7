//! Rate limits: brute force stopped within 20 attempts, limits shared by
//! every ingest through Redis, per caller, and kept per instance (never
//! dropped, never refusing everyone) while Redis is down.

use ingest::rate_limit::Limits;
use serde_json::json;
use testkit::app::{expect_error, Options, TestApp};

fn limits(per_caller: u32, auth: u32) -> Limits {
    Limits {
        per_address: 0,
        per_caller,
        auth,
        track: 0,
        key_misses: 0,
    }
}

/// A guessed password, against `base`, each for another account: the
/// per-address limit is what stops these (one account's own delays start
/// after a few failures, see `trust_limits`).
async fn wrong_login(base: &str) -> reqwest::Response {
    let email = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": "guess number n"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn guessing_passwords_gets_429_within_20_attempts() {
    testkit::in_one_minute_window().await;
    let app =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits = limits(0, 10))).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = wrong_login(&app.base).await;
        if response.status() == 429 {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry_after), "{retry_after}");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
    // Sign-up shares the limit: the address is out of attempts.
    let register = reqwest::Client::new()
        .post(app.url("/auth/register"))
        .json(&json!({"email": "new@example.com", "password": "long enough password", "name": "N"}))
        .send()
        .await
        .unwrap();
    let message = expect_error(register, 429).await;
    assert!(message.contains("too many requests"), "{message}");
    // Everything else is still served.
    assert_eq!(app.get("/stats").await.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn every_ingest_counts_against_the_same_limit() {
    testkit::in_one_minute_window().await;
    let mut app =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits = limits(0, 10))).await;
    let other = app.another_ingest(|c| c.rate_limits = limits(0, 10)).await;
    let mut refused = 0;
    for base in [&app.base, &other] {
        for _ in 0..6 {
            if wrong_login(base).await.status() == 429 {
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, 2,
        "12 attempts on two instances against one limit of 10"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn one_caller_over_its_limit_does_not_slow_another() {
    testkit::in_one_minute_window().await;
    let app =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits = limits(40, 0))).await;
    let mut refused = 0;
    for _ in 0..60 {
        match app.get("/stats").await.status().as_u16() {
            200 => {}
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        (19..=21).contains(&refused),
        "60 requests against 40 a minute: {refused} refused"
    );
    let someone_else = app.client_as(&app.caller(shared::auth::Role::Dispatcher).await);
    let response = someone_else.get(app.url("/stats")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn without_redis_each_instance_still_limits_and_still_serves() {
    testkit::in_one_minute_window().await;
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.rate_limits = limits(0, 5);
        c.common.redis_url = "redis://127.0.0.1:1".into();
    }))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(wrong_login(&app.base).await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429, 429],
        "never no limit"
    );
    assert_eq!(
        app.get("/stats").await.status(),
        200,
        "never refusing everyone"
    );
    app.shutdown().await;
}
