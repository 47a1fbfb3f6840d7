//! Device locations through ingest and the location pool, read back through
//! the API.

use chrono::{Duration as Span, SecondsFormat, Utc};
use serde_json::{json, Value};
use testkit::app::{expect_error, tracking_number, Options, TestApp, WAIT};

fn ago(minutes: i64) -> String {
    (Utc::now() - Span::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn package(app: &TestApp, tn: &str) -> Value {
    app.get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_late_batch_lands_in_history_but_never_moves_the_package_back() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    assert_eq!(app.create(&tn).await.status(), 201);
    let recent = json!([
        {"tracking_number": tn, "latitude": 40.70, "longitude": -74.00, "recorded_at": ago(3)},
        {"tracking_number": tn, "latitude": 40.71, "longitude": -74.01, "recorded_at": ago(2), "address": "Hub 2"},
        {"tracking_number": tn, "latitude": 40.72, "longitude": -74.02, "recorded_at": ago(1), "speed_mps": 12.5},
    ]);
    let accepted = app.post_json("/locations", &recent).await;
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["accepted"], 3);
    assert_eq!(accepted["event_ids"].as_array().unwrap().len(), 3);
    let items = app.history(&tn, 3).await;
    let latitudes: Vec<f64> = items
        .iter()
        .map(|i| i["latitude"].as_f64().unwrap())
        .collect();
    assert_eq!(latitudes, [40.72, 40.71, 40.70], "newest first");
    assert_eq!(items[1]["address"], "Hub 2");
    assert!(items[0]["package_id"].is_string() && items[0]["timestamp"].is_string());
    testkit::eventually(WAIT, "the latest position", || async {
        (package(&app, &tn).await["latitude"] == 40.72).then_some(())
    })
    .await;

    let late = json!([{"tracking_number": tn, "latitude": 10.0, "longitude": 10.0, "recorded_at": ago(60)}]);
    assert_eq!(app.post_json("/locations", &late).await.status(), 202);
    let items = app.history(&tn, 4).await;
    assert_eq!(
        items[3]["latitude"], 10.0,
        "the late point is the oldest in the history"
    );
    let current = package(&app, &tn).await;
    assert_eq!(
        current["latitude"], 40.72,
        "the latest position did not move back"
    );
    assert_eq!(current["longitude"], -74.02);

    // Time windows on the history.
    let since: Vec<Value> = app
        .http
        .get(app.url(&format!("/packages/{tn}/locations")))
        .query(&[("since", ago(10))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(since.len(), 3);
    let limited: Vec<Value> = app
        .get(&format!("/packages/{tn}/locations?limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn json_ndjson_and_msgpack_batches_store_the_same() {
    let app = TestApp::spawn().await;
    let numbers = [tracking_number(), tracking_number(), tracking_number()];
    for tn in &numbers {
        assert_eq!(app.create(tn).await.status(), 201);
    }
    let times = [ago(5), ago(4)];
    let points = |tn: &str| {
        vec![
            json!({"tracking_number": tn, "latitude": 0.0, "longitude": 0.0, "recorded_at": times[0], "accuracy_m": 3.0}),
            json!({"tracking_number": tn, "latitude": -33.8688, "longitude": 151.2093, "recorded_at": times[1], "heading_deg": 90.0, "address": "Sydney"}),
        ]
    };
    let json_body = serde_json::to_vec(&points(&numbers[0])).unwrap();
    let ndjson_body = points(&numbers[1])
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let msgpack_body = rmp_serde::to_vec_named(&points(&numbers[2])).unwrap();
    for (body, content_type) in [
        (json_body, "application/json"),
        (ndjson_body, "application/x-ndjson"),
        (msgpack_body, "application/msgpack"),
    ] {
        let response = app
            .http
            .post(app.url("/locations"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{content_type}");
    }
    let mut stored = Vec::new();
    for tn in &numbers {
        let items = app.history(tn, 2).await;
        let comparable: Vec<Value> = items
            .into_iter()
            .map(|mut item| {
                let object = item.as_object_mut().unwrap();
                for volatile in ["id", "package_id", "received_at"] {
                    object.remove(volatile);
                }
                item
            })
            .collect();
        stored.push(comparable);
    }
    assert_eq!(stored[0], stored[1], "NDJSON stores what JSON stores");
    assert_eq!(stored[0], stored[2], "MessagePack stores what JSON stores");
    assert_eq!(
        stored[0][1]["latitude"], 0.0,
        "a coordinate of exactly 0 is kept"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_stores_each_point_once() {
    let mut app = TestApp::spawn().await;
    let tn = tracking_number();
    assert_eq!(app.create(&tn).await.status(), 201);
    let batch = json!([
        {"tracking_number": tn, "latitude": 1.0, "longitude": 1.0, "recorded_at": ago(3)},
        {"tracking_number": tn, "latitude": 2.0, "longitude": 2.0, "recorded_at": ago(2)},
    ]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .http
            .post(app.url("/locations"))
            .header("idempotency-key", "device-7-upload-1")
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "a retry is accepted again");
        ids.push(response.json::<Value>().await.unwrap()["event_ids"].clone());
    }
    assert_eq!(ids[0], ids[1], "a retry names the same points");
    // Per-point ids work the same way on the single-point endpoint.
    for _ in 0..2 {
        let single =
            json!({"id": "fix-42", "latitude": 3.0, "longitude": 3.0, "recorded_at": ago(1)});
        assert_eq!(
            app.post_json(&format!("/packages/{tn}/locations"), &single)
                .await
                .status(),
            202
        );
    }
    app.history(&tn, 3).await;
    // Nothing in flight any more; the history is keyed by point id, so a
    // retry applied twice would only show on the event counter.
    let queue = app.env.topology().locations_queue();
    app.settle_queue(&queue).await;
    let items: Vec<Value> = app
        .get(&format!("/packages/{tn}/locations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items.len(), 3, "each point stored once");
    assert_eq!(
        app.env.event_seq(&tn).await,
        4,
        "the creation and 3 points, each numbered once"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_status_update_with_coordinates_records_a_location() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    assert_eq!(app.create(&tn).await.status(), 201);
    let update = json!({"status": "in_transit", "location": "Newark Distribution Center", "latitude": 40.7357, "longitude": -74.1724});
    assert_eq!(
        app.put_json(&format!("/packages/{tn}/status"), &update)
            .await
            .status(),
        200
    );
    let items = app.history(&tn, 1).await;
    assert_eq!(items[0]["latitude"], 40.7357);
    assert_eq!(items[0]["address"], "Newark Distribution Center");
    let empty = tracking_number();
    assert_eq!(app.create(&empty).await.status(), 201);
    assert_eq!(
        app.get(&format!("/packages/{empty}/locations"))
            .await
            .text()
            .await
            .unwrap(),
        "[]"
    );
    expect_error(
        app.get(&format!("/packages/{}/locations", tracking_number()))
            .await,
        404,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn near_and_within_find_the_right_packages_in_order() {
    let app = TestApp::spawn().await;
    let places = [
        ("NEWARK", 40.7357, -74.1724),
        ("MANHATTAN", 40.7128, -74.0060),
        ("BOSTON", 42.3601, -71.0589),
    ];
    let mut numbers = Vec::new();
    for (name, lat, lon) in places {
        let tn = format!("{}{}", name, &tracking_number()[3..9]);
        assert_eq!(app.create(&tn).await.status(), 201);
        let point = json!({"latitude": lat, "longitude": lon, "recorded_at": ago(1)});
        assert_eq!(
            app.post_json(&format!("/packages/{tn}/locations"), &point)
                .await
                .status(),
            202
        );
        numbers.push(tn);
    }
    // The geo queries read MongoDB's latest positions, projected from
    // PostgreSQL's a moment after the points are stored.
    let near: Vec<Value> = testkit::eventually(WAIT, "positions projected", || async {
        let near: Vec<Value> = app
            .get("/locations/near?lat=40.72&lon=-74.0&radius_m=30000")
            .await
            .json()
            .await
            .ok()?;
        (near.len() == 2).then_some(near)
    })
    .await;
    let found: Vec<&str> = near
        .iter()
        .map(|p| p["tracking_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        [numbers[1].as_str(), numbers[0].as_str()],
        "nearest first, Boston out of range"
    );
    let (d0, d1) = (
        near[0]["distance_m"].as_f64().unwrap(),
        near[1]["distance_m"].as_f64().unwrap(),
    );
    assert!(
        d0 < 1_500.0 && (13_000.0..16_000.0).contains(&d1),
        "{d0} {d1}"
    );

    let within: Vec<Value> = app
        .get("/locations/within?bbox=-74.3,40.6,-73.9,40.8")
        .await
        .json()
        .await
        .unwrap();
    let mut found: Vec<&str> = within
        .iter()
        .map(|p| p["tracking_number"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    let mut expected = vec![numbers[0].as_str(), numbers[1].as_str()];
    expected.sort_unstable();
    assert_eq!(found, expected);
    assert!(
        within.iter().all(|p| p.get("distance_m").is_none()),
        "distance_m is only in near answers: {within:?}"
    );
    let boston: Vec<Value> = testkit::eventually(WAIT, "Boston projected", || async {
        let found: Vec<Value> = app
            .get("/locations/within?bbox=-71.2,42.2,-70.9,42.5")
            .await
            .json()
            .await
            .ok()?;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(boston.len(), 1);
    assert_eq!(boston[0]["tracking_number"], numbers[2].as_str());

    for bad in [
        "/locations/near?lat=91&lon=0&radius_m=10",
        "/locations/near?lat=1&lon=1",
        "/locations/near?lat=1&lon=1&radius_m=-5",
        "/locations/within?bbox=1,2,3",
        "/locations/within?bbox=3,3,1,1",
        "/locations/within?bbox=a,b,c,d",
    ] {
        expect_error(app.get(bad).await, 422).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_points_refuse_the_whole_batch_and_nothing_is_published() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let tn = tracking_number();
    let good = json!({"tracking_number": tn, "latitude": 1.0, "longitude": 1.0});
    let future = (Utc::now() + Span::hours(1)).to_rfc3339();
    let batch = json!([
        good,
        {"tracking_number": tn, "latitude": 91.0, "longitude": 1.0},
        {"tracking_number": tn, "latitude": 1.0, "longitude": 1.0, "recorded_at": future},
        {"tracking_number": tn, "latitude": 1.0, "longitude": 1.0, "recorded_at": ago(60 * 24 * 30)},
        {"latitude": 1.0, "longitude": 1.0},
        "not a point",
        {"tracking_number": "x.y", "latitude": 1.0},
        {"tracking_number": tn, "latitude": 1.0, "longitude": 1.0, "heading_deg": 400, "speed_mps": -1},
    ]);
    let response = app.post_json("/locations", &batch).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("7 of 8"), "{body}");
    let indexes: Vec<u64> = body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6, 7]);
    assert!(body["points"][0]["fields"]["latitude"].is_string());
    assert!(body["points"][1]["fields"]["recorded_at"]
        .as_str()
        .unwrap()
        .contains("future"));
    assert!(body["points"][2]["fields"]["recorded_at"]
        .as_str()
        .unwrap()
        .contains("older"));
    assert!(body["points"][3]["fields"]["tracking_number"].is_string());
    assert!(body["points"][5]["fields"]["longitude"].is_string());
    assert!(
        body["points"][6]["fields"]["heading_deg"].is_string()
            && body["points"][6]["fields"]["speed_mps"].is_string()
    );

    let too_many: Vec<Value> = (0..1001).map(|_| good.clone()).collect();
    expect_error(app.post_json("/locations", &json!(too_many)).await, 413).await;
    expect_error(app.post_json("/locations", &json!([])).await, 422).await;
    expect_error(
        app.post_json("/locations", &json!({"points": []})).await,
        422,
    )
    .await;
    let post = |content_type: &'static str, body: Vec<u8>| {
        app.http
            .post(app.url("/locations"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(post("text/csv", b"1,2".to_vec()).await.unwrap(), 415).await;
    expect_error(
        post("application/x-ndjson", b"{\"latitude\": 1}\n{oops".to_vec())
            .await
            .unwrap(),
        400,
    )
    .await;
    expect_error(
        post("application/msgpack", b"\xc1\xc1".to_vec())
            .await
            .unwrap(),
        400,
    )
    .await;
    expect_error(post("application/json", b"[{".to_vec()).await.unwrap(), 400).await;
    let single = format!("/packages/{tn}/locations");
    expect_error(app.post_json(&single, &json!({"latitude": 1.0})).await, 422).await;
    expect_error(
        app.post_json(&single, &json!({"latitude": "north", "longitude": 1.0}))
            .await,
        422,
    )
    .await;

    assert_eq!(
        app.env
            .queue_depth(&app.env.topology().locations_queue())
            .await,
        0,
        "nothing was published"
    );
    app.shutdown().await;
}

/// Group commit: concurrent single-point posts share broker messages, and
/// every point answered 202 is in one of them, once.
#[tokio::test]
async fn concurrent_single_points_share_broker_messages_and_none_is_lost() {
    const POSTS: usize = 60;
    let app = TestApp::spawn_with(Options::without_workers().ingest(|config| {
        config.group_commit.linger = std::time::Duration::from_millis(200);
    }))
    .await;
    let tn = tracking_number();
    let posts = (0..POSTS).map(|i| {
        let body = json!({"latitude": 40.0 + i as f64 / 1000.0, "longitude": -74.0, "recorded_at": ago(1)});
        let (app, tn) = (&app, &tn);
        async move {
            let response = app.post_json(&format!("/packages/{tn}/locations"), &body).await;
            assert_eq!(response.status(), 202);
            let body: Value = response.json().await.unwrap();
            body["event_ids"][0].as_str().unwrap().to_owned()
        }
    });
    let accepted: std::collections::HashSet<String> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .collect();
    assert_eq!(accepted.len(), POSTS);

    let queue = app.env.topology().locations_queue();
    let (mut messages, mut stored) = (0, Vec::new());
    while let Some(delivery) = app
        .env
        .get_message(&queue, std::time::Duration::from_millis(500))
        .await
    {
        let envelope: shared::wire::Envelope<shared::wire::LocationBatch> =
            app.env.open(&delivery.data);
        messages += 1;
        stored.extend(
            envelope
                .body
                .points
                .into_iter()
                .map(|p| p.point_id.to_string()),
        );
    }
    let distinct: std::collections::HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), POSTS, "each point in one message, once");
    assert_eq!(distinct, accepted, "every accepted point was published");
    assert!(
        messages * 4 <= POSTS,
        "{messages} messages for {POSTS} concurrent posts"
    );
    app.shutdown().await;
}
