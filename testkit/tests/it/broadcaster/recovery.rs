//! What a subscriber gets when it is far behind or when events go missing:
//! everything after its `since_seq`, however long the backlog; gaps filled
//! from the stores; only what the stores lack skipped, and said so.

use chrono::Utc;
use serde_json::{json, Value};
use shared::locations::stored::{self, HistoryDoc};
use std::time::Duration;
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::ws::{connect, next_json, send, subscribe, Client};
use tokio::io::AsyncReadExt;

/// Posts `count` points for `tn` in batches of 100.
async fn post_points(app: &TestApp, tn: &str, count: usize) {
    let points: Vec<Value> = (0..count)
        .map(|i| json!({"tracking_number": tn, "latitude": 10.0 + i as f64 / 10_000.0, "longitude": 20.0}))
        .collect();
    for batch in points.chunks(100) {
        let response = app.post_json("/locations", &json!(batch)).await;
        assert_eq!(response.status(), 202);
    }
}

async fn wait_for_seq(app: &TestApp, tn: &str, seq: i64) {
    testkit::eventually(Duration::from_secs(60), "the events numbered", || async {
        let head: i64 =
            sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
                .bind(tn)
                .fetch_one(&app.env.pool)
                .await
                .ok()?;
        (head >= seq).then_some(())
    })
    .await;
}

/// Reads updates until `last` arrives; returns every seq seen, in order.
async fn read_until(client: &mut Client, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let update = next_json(client, WAIT)
            .await
            .unwrap_or_else(|| panic!("stream stalled after {:?}", seqs.last()));
        assert_eq!(update["type"], "package_update", "{update}");
        seqs.push(update["seq"].as_i64().unwrap());
    }
    seqs
}

async fn subscribe_since(client: &mut Client, tn: &str, since: i64) {
    send(
        client,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": since}),
    )
    .await;
    let ack = next_json(client, WAIT).await.expect("an answer");
    assert_eq!(ack["type"], "subscribed", "{ack}");
}

#[tokio::test]
async fn a_replay_pages_through_any_backlog_then_continues_live() {
    let mut app = TestApp::spawn().await;
    let url = app.broadcaster(|_| {}).await.url;
    let tn = tracking_number();
    app.created(&tn).await; // seq 1
    post_points(&app, &tn, 1200).await; // seq 2..=1201
    wait_for_seq(&app, &tn, 1201).await;

    let mut client = connect(&url).await;
    subscribe_since(&mut client, &tn, 0).await;
    let seqs = read_until(&mut client, 1201).await;
    assert_eq!(
        seqs,
        (1..=1201).collect::<Vec<_>>(),
        "all of it, in order, once"
    );
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await;
    let live = next_json(&mut client, WAIT).await.expect("the live update");
    assert_eq!(
        (live["seq"].as_i64(), live["kind"].as_str()),
        (Some(1202), Some("status_changed"))
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_into_a_small_queue_does_not_drop_a_client_that_reads() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|c| c.client_queue = 8).await;
    let tn = tracking_number();
    app.created(&tn).await;
    post_points(&app, &tn, 500).await; // seq 2..=501
    wait_for_seq(&app, &tn, 501).await;

    let mut client = connect(&broadcaster.url).await;
    subscribe_since(&mut client, &tn, 0).await;
    // Live traffic while the client catches up.
    let live = async {
        for _ in 0..5 {
            post_points(&app, &tn, 20).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    };
    let (seqs, ()) = tokio::join!(read_until(&mut client, 601), live);
    assert_eq!(seqs, (1..=601).collect::<Vec<_>>());
    assert_eq!(
        broadcaster.hub.metrics.snapshot().dropped_slow,
        0,
        "not dropped as slow"
    );
    app.shutdown().await;
}

/// Stores a location event the way a worker does, but announces nothing: an
/// event lost in flight.
async fn store_unannounced_point(app: &TestApp, tn: &str) -> i64 {
    let mut tx = app.env.pool.begin().await.unwrap();
    let (package_id, seq): (uuid::Uuid, i64) = sqlx::query_as(
        "UPDATE packages SET event_seq = event_seq + 1 WHERE tracking_number = $1 RETURNING id, event_seq",
    )
    .bind(tn)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let point_id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO package_events (package_id, seq, event_id, kind) VALUES ($1, $2, $3, 'location')")
        .bind(package_id)
        .bind(seq)
        .bind(point_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.env
        .mongo()
        .await
        .collection::<HistoryDoc>(stored::HISTORY)
        .insert_one(HistoryDoc {
            point_id: point_id.to_string(),
            package_id: Some(package_id.to_string()),
            tracking_number: tn.to_owned(),
            location: stored::GeoPoint::new(10.5, 20.5),
            recorded_at: stored::bson_time(Utc::now()),
            received_at: stored::bson_time(Utc::now()),
            seq,
            address: None,
            measurements: Default::default(),
        })
        .await
        .unwrap();
    seq
}

#[tokio::test]
async fn a_lost_event_is_filled_from_the_stores_and_only_a_missing_one_is_skipped() {
    let mut app = TestApp::spawn().await;
    let url = app.broadcaster(|_| {}).await.url;
    let tn = tracking_number();
    app.created(&tn).await; // 1
    let mut client = connect(&url).await;
    subscribe(&mut client, &tn).await;

    let lost = store_unannounced_point(&app, &tn).await; // 2, never published
    assert_eq!(lost, 2);
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await; // 3, live
    let filled = next_json(&mut client, WAIT)
        .await
        .expect("the lost event, from the stores");
    assert_eq!(
        (filled["seq"].as_i64(), filled["kind"].as_str()),
        (Some(2), Some("location"))
    );
    assert_eq!(filled["data"]["latitude"], 10.5);
    let live = next_json(&mut client, WAIT)
        .await
        .expect("then the live one");
    assert_eq!(live["seq"], 3);

    // A seq numbered nowhere (its data is gone for good) is skipped, and said so.
    sqlx::query("UPDATE packages SET event_seq = event_seq + 1 WHERE tracking_number = $1")
        .bind(&tn)
        .execute(&app.env.pool)
        .await
        .unwrap(); // 4
    app.status_changed(&tn, json!({"status": "out_for_delivery"}))
        .await; // 5
    let gap = next_json(&mut client, WAIT).await.expect("a gap notice");
    assert_eq!(
        gap,
        json!({"type": "gap", "tracking_number": tn, "from": 4, "to": 4})
    );
    let after = next_json(&mut client, WAIT)
        .await
        .expect("the event after the gap");
    assert_eq!(after["seq"], 5);
    assert!(
        next_json(&mut client, Duration::from_millis(700))
            .await
            .is_none(),
        "nothing twice"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_socket_that_never_completes_the_handshake_loses_its_slot() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|c| {
            c.max_connections = 1;
            c.handshake_timeout = Duration::from_millis(300);
        })
        .await;
    let address = broadcaster
        .base_url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(WAIT, silent.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the server hangs up: {closed:?}"
    );
    let mut client = connect(&broadcaster.url).await;
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": "TRKUNKNOWN0"}),
    )
    .await;
    assert_eq!(
        next_json(&mut client, WAIT).await.unwrap()["type"],
        "error",
        "the slot is free"
    );
    app.shutdown().await;
}
