//! Devices: API keys shown once, stored as hashes, good for location posts
//! of their courier's packages only, revoked on every ingest within seconds,
//! and checked without a database round trip once known.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::app::{expect_error, tracking_number, TestApp};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Posts one point with the key (`Authorization: ApiKey`); returns the status.
async fn post_point(base: &str, key: &str, tn: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/packages/{tn}/locations"))
        .header("authorization", format!("ApiKey {key}"))
        .json(&json!({"latitude": 40.7, "longitude": -74.0}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_device_posts_locations_for_its_couriers_packages_and_nothing_else() {
    let app = TestApp::spawn().await;
    let courier = app.courier().await;
    let (carried, elsewhere) = (tracking_number(), tracking_number());
    app.created(&carried).await;
    app.created(&elsewhere).await;
    app.deliver(&courier, &[&carried]).await;
    let (id, key) = app.register_device(courier.user_id, "van 7 tracker").await;
    assert!(key.starts_with("dtk_"), "{key}");

    assert_eq!(post_point(&app.base, &key, &carried).await, 202);
    let batch = reqwest::Client::new()
        .post(app.url("/locations"))
        .header("x-api-key", &key)
        .json(&json!([{"tracking_number": carried, "latitude": 40.71, "longitude": -74.01}]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 202, "X-API-Key works too");
    assert_eq!(
        post_point(&app.base, &key, &elsewhere).await,
        404,
        "not its courier's package"
    );
    let read = reqwest::Client::new()
        .get(app.url(&format!("/packages/{carried}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert!(expect_error(read, 403)
        .await
        .contains("only post locations"));
    assert_eq!(
        post_point(
            &app.base,
            "dtk_0000000000000000000000000000000000000000",
            &carried
        )
        .await,
        401
    );

    // The points arrive, posted by the device.
    testkit::eventually(testkit::app::WAIT, "the device's points", || async {
        let history = json_of(app.get(&format!("/packages/{carried}/locations")).await).await;
        (history.as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;

    // The key is nowhere but in the answer that created it.
    let listed = json_of(app.get("/devices").await).await;
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("api_key").is_none() && listed[0].get("key_hash").is_none());
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM devices")
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_ne!(stored, key);
    assert!(!stored.contains(&key[4..]));

    let not_a_courier = app
        .post_json(
            "/devices",
            &json!({"name": "x", "courier_id": app.admin.user_id}),
        )
        .await;
    expect_error(not_a_courier, 422).await;
    let customer = app.client_as(&app.caller(shared::auth::Role::Customer).await);
    let refused = customer
        .post(app.url("/devices"))
        .json(&json!({"name": "x", "courier_id": courier.user_id}))
        .send()
        .await
        .unwrap();
    expect_error(refused, 403).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_revoked_or_replaced_key_stops_working_on_every_ingest_within_5_seconds() {
    let mut app = TestApp::spawn().await;
    let other_ingest = app.another_ingest(|_| {}).await;
    let courier = app.courier().await;
    let tn = tracking_number();
    app.created(&tn).await;
    app.deliver(&courier, &[&tn]).await;
    let (id, key) = app.register_device(courier.user_id, "van 7 tracker").await;
    // Both instances know the key now.
    assert_eq!(post_point(&app.base, &key, &tn).await, 202);
    assert_eq!(post_point(&other_ingest, &key, &tn).await, 202);

    let rotated = app
        .post_json(&format!("/devices/{id}/rotate"), &json!({}))
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated = json_of(rotated).await;
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    assert!(rotated["rotated_at"].is_string());
    let started = Instant::now();
    while post_point(&other_ingest, &key, &tn).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the old key still works after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post_point(&other_ingest, &new_key, &tn).await, 202);

    let revoked = app
        .http
        .delete(app.url(&format!("/devices/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(json_of(revoked).await["revoked_at"].is_string());
    let started = Instant::now();
    for base in [&other_ingest, &app.base] {
        while post_point(base, &new_key, &tn).await != 401 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "a revoked key works after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let again = app
        .post_json(&format!("/devices/{id}/rotate"), &json!({}))
        .await;
    expect_error(again, 409).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_known_key_is_checked_without_the_database() {
    let app = TestApp::spawn().await;
    let courier = app.courier().await;
    let tn = tracking_number();
    app.created(&tn).await;
    app.deliver(&courier, &[&tn]).await;
    let (_, key) = app.register_device(courier.user_id, "van 7 tracker").await;
    // The registration moved the rights version; ingest drops what it
    // remembers when its refresher next polls (every POLL). Past that, the
    // post below fills the memory and nothing empties it again.
    tokio::time::sleep(ingest::credentials::POLL * 2).await;
    assert_eq!(post_point(&app.base, &key, &tn).await, 202);
    app.env.set_database_available(false).await;
    let during = post_point(&app.base, &key, &tn).await;
    app.env.set_database_available(true).await;
    assert_eq!(
        during, 202,
        "a location post needs the broker, not the database"
    );
    app.shutdown().await;
}
