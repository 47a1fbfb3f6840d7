//! Ingest's near cache: a package's view is served from ingest's own memory
//! (the Redis view gone, it still answers `HIT`), and every ingest drops
//! it as soon as any change is announced: a status change made through
//! one ingest, and a point stored by the location pool, are read at once
//! through both.

use serde_json::{json, Value};
use std::time::Duration;
use testkit::app::{tracking_number, TestApp};

/// A read through the ingest at `base`: its `X-Cache` and the package.
async fn read(app: &TestApp, base: &str, tn: &str) -> (String, Value) {
    let response = app
        .http
        .get(format!("{base}/packages/{tn}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
    (cache, response.json().await.expect("the package"))
}

/// The view as the ingest at `base` serves it, once it no longer shows
/// `stale` (announcements take a moment to arrive: well under this).
async fn read_fresh(app: &TestApp, base: &str, tn: &str, fresh: impl Fn(&Value) -> bool) -> Value {
    testkit::eventually(Duration::from_secs(2), "the changed view", || async {
        let (_, view) = read(app, base, tn).await;
        fresh(&view).then_some(view)
    })
    .await
}

#[tokio::test]
async fn views_are_served_from_memory_and_every_ingest_drops_a_changed_one() {
    let mut app = TestApp::spawn().await;
    let other = app.another_ingest(|_| {}).await;
    let tn = tracking_number();
    app.created(&tn).await;
    let ingests = [app.base.clone(), other];

    // Read until each ingest holds the view (the first read fills Redis).
    for base in &ingests {
        testkit::eventually(Duration::from_secs(5), "a cached read", || async {
            (read(&app, base, &tn).await.0 == "HIT").then_some(())
        })
        .await;
    }
    // Gone from Redis, the view is still served, from each ingest's memory.
    let mut redis = app.env.redis().await;
    let key = format!("{}view:package:{tn}", app.env.config.redis_prefix);
    let removed: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the Redis view was there");
    for base in &ingests {
        let (cache, view) = read(&app, base, &tn).await;
        assert_eq!(
            (cache.as_str(), &view["status"]),
            ("HIT", &json!("pending"))
        );
    }
    // Still so a few seconds on: the listener's canaries come back, so it
    // keeps its link (a link given up drops everything held).
    tokio::time::sleep(Duration::from_secs(4)).await;
    for base in &ingests {
        assert_eq!(read(&app, base, &tn).await.0, "HIT", "the link was kept");
    }

    // A status change through the first ingest: its writer reads it at
    // once there, and the other ingest drops its copy too.
    assert_eq!(app.set_status(&tn, "in_transit").await.status(), 200);
    let (_, view) = read(&app, &ingests[0], &tn).await;
    assert_eq!(view["status"], "in_transit", "the writer reads its write");
    read_fresh(&app, &ingests[1], &tn, |v| v["status"] == "in_transit").await;

    // A point stored by the location pool (no command outcome passes
    // through ingest): both ingests drop their copies.
    for base in &ingests {
        assert_eq!(read(&app, base, &tn).await.0, "HIT");
    }
    let posted = app
        .post_json(
            &format!("/packages/{tn}/locations"),
            &json!({"latitude": 48.5, "longitude": 9.25}),
        )
        .await;
    assert_eq!(posted.status(), 202);
    for base in &ingests {
        let view = testkit::eventually(Duration::from_secs(10), "the point stored", || async {
            let (_, view) = read(&app, base, &tn).await;
            (view["latitude"] == json!(48.5)).then_some(view)
        })
        .await;
        assert_eq!(view["longitude"], json!(9.25));
    }
    app.shutdown().await;
}
