//! What a device measures beside its position (`shared::locations::Measurements`)
//! travels the whole way: accepted on single and batch posts in every
//! format, stored, returned by the history read, and carried by the live
//! WebSocket update and by its replay.

use chrono::{Duration as Span, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use testkit::app::{expect_error, tracking_number, TestApp, WAIT};
use testkit::ws::{connect, next_json, send, subscribe, Client};

/// Each measurement: its field, a value it accepts, one it refuses.
const MEASURED: [(&str, f64, f64); 4] = [
    ("accuracy_m", 12.5, -1.0),
    ("speed_mps", 8.25, 1000.5),
    ("heading_deg", 270.0, 360.5),
    ("altitude_m", -12.75, 50_000.5),
];

/// A point carrying every measurement, `minutes` old.
fn point(tracking_number: Option<&str>, minutes: i64) -> Value {
    let mut point: Map<String, Value> = MEASURED
        .iter()
        .map(|(field, valid, _)| (field.to_string(), json!(valid)))
        .collect();
    let recorded_at =
        (Utc::now() - Span::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true);
    point.insert("latitude".into(), json!(48.85));
    point.insert("longitude".into(), json!(2.35));
    point.insert("recorded_at".into(), json!(recorded_at));
    if let Some(tn) = tracking_number {
        point.insert("tracking_number".into(), json!(tn));
    }
    Value::Object(point)
}

fn assert_measured(what: &str, object: &Value) {
    for (field, valid, _) in MEASURED {
        assert_eq!(object[field], json!(valid), "{what}: {field} in {object}");
    }
}

async fn post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    let request = app
        .http
        .post(app.url(path))
        .header("content-type", content_type);
    request.body(body).send().await.unwrap()
}

/// The next `count` location updates a client hears.
async fn location_updates(client: &mut Client, count: usize) -> Vec<Value> {
    let mut updates = Vec::new();
    while updates.len() < count {
        let frame = next_json(client, WAIT).await.expect("a location update");
        if frame["kind"] == "location" {
            updates.push(frame);
        }
    }
    updates
}

#[tokio::test]
async fn every_measurement_travels_from_each_format_to_the_history_and_the_socket() {
    let mut app = TestApp::spawn().await;
    let url = app.broadcaster(|_| {}).await.url;
    let tn = tracking_number();
    app.created(&tn).await; // seq 1
    let mut live = connect(&url).await;
    subscribe(&mut live, &tn).await;

    let single = serde_json::to_vec(&point(None, 4)).unwrap();
    let response = post(
        &app,
        &format!("/packages/{tn}/locations"),
        "application/json",
        single,
    )
    .await;
    assert_eq!(response.status(), 202, "single JSON point");
    let json_batch = serde_json::to_vec(&[point(Some(&tn), 3)]).unwrap();
    let ndjson_batch = point(Some(&tn), 2).to_string().into_bytes();
    let msgpack_batch = rmp_serde::to_vec_named(&[point(Some(&tn), 1)]).unwrap();
    for (body, content_type) in [
        (json_batch, "application/json"),
        (ndjson_batch, "application/x-ndjson"),
        (msgpack_batch, "application/msgpack"),
    ] {
        let response = post(&app, "/locations", content_type, body).await;
        assert_eq!(response.status(), 202, "{content_type} batch");
    }

    for item in app.history(&tn, 4).await {
        assert_measured("the history read", &item);
    }
    for update in location_updates(&mut live, 4).await {
        assert_measured("the live update", &update["data"]);
    }
    let mut replayed = connect(&url).await;
    let since = json!({"type": "subscribe", "tracking_number": tn, "since_seq": 1});
    send(&mut replayed, since).await;
    for update in location_updates(&mut replayed, 4).await {
        assert_measured("the replayed update", &update["data"]);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn an_out_of_range_measurement_is_named_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    for (field, _, refused) in MEASURED {
        let mut bad = point(None, 1);
        bad[field] = json!(refused);
        let single = serde_json::to_vec(&bad).unwrap();
        let response = post(
            &app,
            &format!("/packages/{tn}/locations"),
            "application/json",
            single,
        )
        .await;
        let error = expect_error(response, 422).await;
        assert!(error.contains(field), "single: {error}");
        bad["tracking_number"] = json!(tn);
        let batch = rmp_serde::to_vec_named(&[bad]).unwrap();
        let response = post(&app, "/locations", "application/msgpack", batch).await;
        assert_eq!(response.status(), 422, "batch with a bad {field}");
        let refused: Value = response.json().await.unwrap();
        assert!(
            refused["points"][0]["fields"][field].is_string(),
            "batch: {refused}"
        );
    }
    // A good point after the bad ones is the only one stored.
    let good = serde_json::to_vec(&point(None, 1)).unwrap();
    let response = post(
        &app,
        &format!("/packages/{tn}/locations"),
        "application/json",
        good,
    )
    .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.history(&tn, 1).await.len(), 1);
    app.shutdown().await;
}
