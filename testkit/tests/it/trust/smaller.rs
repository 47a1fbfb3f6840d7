//! The smaller doors: a point's own id is its poster's, so nobody can
//! claim someone else's point first; unknown device keys cannot push
//! real ones out of memory or make every guess a database query; batch
//! decoding costs about its body, not twenty times it; configuration errors
//! never print a secret.

use crate::alloc::peak_during;
use ingest::routes::locations::post_batch::{parse_batch, Format};
use serde_json::{json, Value};
use shared::auth::Role;
use shared::locations::parse::{PointIds, PointRules};
use std::time::Duration;
use testkit::app::{Options, TestApp, WAIT};

#[tokio::test]
async fn another_posters_point_with_the_same_id_is_another_point() {
    let app = TestApp::spawn().await;
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    let dispatcher = app.caller(Role::Dispatcher).await;
    let post = |client: reqwest::Client, latitude: f64| {
        let url = app.url(&format!("/packages/{tn}/locations"));
        async move {
            client
                .post(url)
                .json(&json!({"id": "42", "latitude": latitude, "longitude": 2.0}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Someone else claims id 42 first; the real poster's 42 still counts.
    assert_eq!(post(app.client_as(&dispatcher), 10.0).await, 202);
    assert_eq!(post(app.http.clone(), 20.0).await, 202);
    // A poster re-sending its own 42 is the same point.
    assert_eq!(post(app.http.clone(), 20.0).await, 202);
    let history = testkit::eventually(WAIT, "both posters' points", || async {
        let points: Value = app
            .get(&format!("/packages/{tn}/locations"))
            .await
            .json()
            .await
            .unwrap();
        (points.as_array().unwrap().len() >= 2).then_some(points)
    })
    .await;
    let mut latitudes: Vec<f64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["latitude"].as_f64().unwrap())
        .collect();
    latitudes.sort_by(f64::total_cmp);
    assert_eq!(latitudes, [10.0, 20.0]);
    // The package's event counter saw exactly two points (a duplicate would
    // have taken a number).
    let seq: i64 = sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
        .bind(&tn)
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(seq, 3, "creation and two points");
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_device_keys_are_throttled_and_never_push_out_a_real_one() {
    // The misses are counted per wall-clock minute.
    testkit::in_one_minute_window().await;
    let app =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits.key_misses = 5)).await;
    let courier = app.courier().await;
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    app.deliver(&courier, &[&tn]).await;
    let (_, real) = app.register_device(courier.user_id, "van").await;
    // A second device, to change later.
    let (bike, bike_key) = app.register_device(courier.user_id, "bike").await;
    let post = |key: String| {
        let (app, tn) = (&app, &tn);
        async move { app.post_point_as_device(&key, tn).await }
    };
    for key in [&real, &bike_key] {
        testkit::eventually(WAIT, "the key in use", || {
            let post = post(key.clone());
            async move { (post.await == 202).then_some(()) }
        })
        .await;
    }
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (guess, _) = shared::auth::api_key::generate();
        statuses.push(post(guess).await);
    }
    // Past five failed lookups a minute (the sixth is the one found over
    // the limit), the network's unknown keys are refused unlooked-up.
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 401, 429, 429],
        "{statuses:?}"
    );
    assert_eq!(post(real.clone()).await, 202, "the remembered key works on");
    // A device change makes ingest forget every device (rights changed);
    // the real key is looked up again, not refused with the network. Once
    // the revoked bike's key is refused, ingest has forgotten.
    let revoked = app
        .http
        .delete(app.url(&format!("/devices/{bike}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    testkit::eventually(WAIT, "the revoked key refused", || {
        let post = post(bike_key.clone());
        async move { (post.await == 401).then_some(()) }
    })
    .await;
    assert_eq!(
        post(real.clone()).await,
        202,
        "a known device is not locked out"
    );
    let (guess, _) = shared::auth::api_key::generate();
    assert_eq!(post(guess).await, 429, "the network's guesses still are");
    app.shutdown().await;
}

fn rules() -> PointRules {
    PointRules {
        max_future_skew: Duration::from_secs(300),
        max_age: Duration::from_secs(3600),
        batch_max_points: 1000,
        batch_max_bytes: 1 << 20,
    }
}

#[test]
fn a_megabyte_of_empty_points_costs_about_a_megabyte_in_every_format() {
    let ids = PointIds::new(&testkit::caller(Role::Courier), None);
    let megabyte = 1 << 20;
    // An array header announcing a million elements, each an empty map.
    let mut msgpack = vec![0xdd];
    msgpack.extend_from_slice(&((megabyte - 5) as u32).to_be_bytes());
    msgpack.resize(megabyte, 0x80);
    let json = format!("[{}]", vec!["{}"; megabyte / 3].join(",")).into_bytes();
    let ndjson = vec!["{}"; megabyte / 3].join("\n").into_bytes();
    for (format, body) in [
        (Format::MessagePack, msgpack),
        (Format::Json, json),
        (Format::NdJson, ndjson),
    ] {
        let (refused, peak) =
            peak_during(|| parse_batch(format, &body, &ids, &rules(), chrono::Utc::now()).is_err());
        assert!(refused, "{format:?}: over the point limit");
        assert!(
            peak <= body.len(),
            "{format:?}: decoding {} bytes held {peak} bytes",
            body.len()
        );
    }
}

#[test]
fn configuration_errors_name_the_variable_and_never_print_its_secret() {
    let run = |vars: &[(&str, &str)]| {
        let output = std::process::Command::new(testkit::bins::path("ingest"))
            .env("JWT_SECRET", "a test secret of at least thirty-two bytes")
            .env(
                "MESSAGE_SIGNING_KEY",
                "a test signing key of at least 32 bytes",
            )
            .env_remove("AUTH_DISABLED")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{vars:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let short = run(&[("JWT_SECRET", "hunter2-but-short")]);
    assert!(
        short.contains("JWT_SECRET") && !short.contains("hunter2"),
        "{short}"
    );
    let placeholder = run(&[(
        "MESSAGE_SIGNING_KEY",
        "REPLACE-ME-with-a-real-key-of-32-bytes",
    )]);
    assert!(placeholder.contains("MESSAGE_SIGNING_KEY"), "{placeholder}");
    assert!(!placeholder.contains("with-a-real-key"), "{placeholder}");
    let url = run(&[("DATABASE_URL", "mysql://app:s3cret-pw@db.example:3306/x")]);
    assert!(
        url.contains("DATABASE_URL") && !url.contains("s3cret-pw"),
        "{url}"
    );
    let published = run(&[(
        "AMQP_URL",
        "amqp://delivertrack:delivertrack@rabbitmq:5672/%2f",
    )]);
    assert!(published.contains("published default"), "{published}");
    assert!(!published.contains(":delivertrack@"), "{published}");
    let old_switch = run(&[("RATE_LIMIT_TRUST_FORWARDED", "true")]);
    assert!(old_switch.contains("TRUSTED_PROXIES"), "{old_switch}");
}
