//! Regression tests for the holes a fault trial found: each failed before its
//! fix. A 2xx means stored exactly once; anything that cannot promise that
//! says so with an error.

use serde_json::{json, Value};
use std::time::Duration;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_request_is_refused_not_replayed() {
    let app = TestApp::spawn().await;
    let (first, second) = (tracking_number(), tracking_number());
    let created = post_with_key(&app, "/packages", "shared-key", &package_body(&first)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();

    // Another client, same key, another package: not the first one's outcome.
    let other = post_with_key(&app, "/packages", "shared-key", &package_body(&second)).await;
    let message = expect_error(other, 422).await;
    assert!(message.contains("Idempotency-Key"), "{message}");
    assert_eq!(app.get(&format!("/packages/{second}")).await.status(), 404);

    // The same request again is the first outcome.
    let retried = post_with_key(&app, "/packages", "shared-key", &package_body(&first)).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.json::<Value>().await.unwrap()["id"], created["id"]);
    // Key order and spacing do not make a request different.
    let reordered: Value = serde_json::from_str(&format!(
        "{{\"weight\": 2.5, \"description\": \"Books\", \"recipient_address\": \"2 High St, Boston\", \
         \"recipient_name\": \"Bob Recipient\", \"sender_address\": \"1 Main St, Newark\", \
         \"sender_name\": \"Ann Sender\", \"tracking_number\": \"{first}\"}}"
    ))
    .unwrap();
    let again = post_with_key(&app, "/packages", "shared-key", &reordered).await;
    assert_eq!(again.status(), 201);
    assert_eq!(app.package_rows().await, 1);

    // The same key on a status update of another path is another key.
    let updated = app
        .http
        .put(app.url(&format!("/packages/{first}/status")))
        .header("idempotency-key", "shared-key")
        .json(&json!({"status": "in_transit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn two_devices_sharing_an_idempotency_key_keep_both_their_points() {
    let app = TestApp::spawn().await;
    let (a, b) = (tracking_number(), tracking_number());
    app.created(&a).await;
    app.created(&b).await;
    let mut ids = Vec::new();
    for (tn, latitude) in [(&a, 10.0), (&b, 20.0)] {
        let point = json!({"latitude": latitude, "longitude": 5.0});
        let response = post_with_key(
            &app,
            &format!("/packages/{tn}/locations"),
            "upload-1",
            &point,
        )
        .await;
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["event_ids"][0].clone());
    }
    assert_ne!(
        ids[0], ids[1],
        "different devices' points are different points"
    );
    // One device, one key, two different batches: two sets of points.
    let batch = |lat: f64| json!([{"tracking_number": a, "latitude": lat, "longitude": 1.0}]);
    let first = post_with_key(&app, "/locations", "batch-1", &batch(1.0)).await;
    let second = post_with_key(&app, "/locations", "batch-1", &batch(2.0)).await;
    let first: Value = first.json().await.unwrap();
    let second: Value = second.json().await.unwrap();
    assert_ne!(first["event_ids"], second["event_ids"]);
    for (tn, expected) in [(&a, 3), (&b, 1)] {
        testkit::eventually(WAIT, "every point stored", || async {
            let items: Vec<Value> = app
                .get(&format!("/packages/{tn}/locations"))
                .await
                .json()
                .await
                .ok()?;
            (items.len() == expected).then_some(())
        })
        .await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_batch_repeating_a_point_id_is_refused_naming_the_repeats() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let tn = tracking_number();
    let point = |id: &str, lat: f64| json!({"tracking_number": tn, "id": id, "latitude": lat, "longitude": 1.0});
    let batch = json!([point("a", 1.0), point("b", 2.0), point("a", 3.0)]);
    let response = app.post_json("/locations", &batch).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["points"][0]["index"], 2, "{body}");
    assert!(body["points"][0]["fields"]["id"]
        .as_str()
        .unwrap()
        .contains("point 0"));
    assert_eq!(
        app.env
            .queue_depth(&app.env.topology().locations_queue())
            .await,
        0,
        "nothing accepted"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_that_trickles_its_request_loses_its_slot() {
    let app = TestApp::spawn_with(Options::without_workers().ingest(|c| {
        c.read_timeout = Duration::from_millis(500);
        c.max_connections = 2;
    }))
    .await;
    let address = app
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_owned();
    // One sends half its headers, one half its body; both then go quiet.
    let mut silent_headers = TcpStream::connect(&address).await.unwrap();
    silent_headers
        .write_all(b"POST /api/v1/packages HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Signed in: an anonymous request would be answered 401 before its body.
    let mut slow_body = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/packages HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"tracking",
        app.env.token(&app.admin)
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, slow_body.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server ends the slow connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, silent_headers.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "and the one that never finished its headers");
    // Both slots are free again.
    assert_eq!(app.get("/stats").await.status(), 200);
    assert_eq!(app.get("/stats").await.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_committed_command_reaches_its_event_and_reply_even_if_the_publish_channel_breaks() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    // The next event publish hits a missing exchange: the broker closes the
    // workers' publish channel after their transaction committed.
    app.env
        .channel()
        .exchange_delete(
            app.env.topology().events_exchange().into(),
            Default::default(),
        )
        .await
        .unwrap();
    let response = app.set_status(&tn, "in_transit").await;
    assert_eq!(
        response.status(),
        200,
        "the worker reopened its channel and answered"
    );
    let dead = app.env.queue_depth(&app.env.topology().dead_queue()).await;
    assert_eq!(dead, 0, "a committed command is never dead-lettered");
    let history: Vec<Value> = app
        .get(&format!("/packages/{tn}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "applied once");
    assert_eq!(app.set_status(&tn, "out_for_delivery").await.status(), 200);
    app.shutdown().await;
}
