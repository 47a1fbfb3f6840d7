//! Zone notices on the WebSocket: live in `seq` order among the package's
//! other events, and the same frames again from the stores for a client
//! that subscribes with `since_seq`.

use super::{circle, north, notices_are, second, LONGITUDE};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::ws::{connect, next_json, send, subscribe};

/// The frames until one of `kind`, all kept.
async fn frames_until(client: &mut testkit::ws::Client, kind: &str) -> Vec<Value> {
    let mut heard = Vec::new();
    while let Some(frame) = next_json(client, WAIT).await {
        let done = frame["kind"] == kind;
        heard.push(frame);
        if done {
            return heard;
        }
    }
    panic!("no {kind} frame; heard {heard:?}");
}

#[tokio::test]
async fn a_watcher_hears_a_zone_entered_live_and_again_when_catching_up() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    circle(&app, "Depot", 0.0, 100.0, json!({})).await;
    let tn = tracking_number();
    app.created(&tn).await;
    let mut live = connect(&broadcaster.url).await;
    subscribe(&mut live, &tn).await;
    let start = Utc::now() - Duration::minutes(5);
    let points: Vec<Value> = [(0, 300.0), (10, 0.0)]
        .iter()
        .map(|(s, m)| json!({"tracking_number": tn, "latitude": north(*m), "longitude": LONGITUDE, "recorded_at": second(start, *s), "accuracy_m": 5.0}))
        .collect();
    assert_eq!(
        app.post_json("/locations", &json!(points)).await.status(),
        202
    );

    let heard = frames_until(&mut live, "geofence_entered").await;
    let entered = heard.last().expect("the notice").clone();
    assert_eq!(entered["type"], "package_update");
    assert_eq!(entered["data"]["zone_name"], "Depot");
    assert_eq!(entered["data"]["latitude"], north(0.0));
    let seqs: Vec<i64> = heard.iter().filter_map(|f| f["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in seq order, no gap: {seqs:?}"
    );
    let stored = notices_are(&app, &tn, &["geofence_entered Depot"]).await;
    assert_eq!(stored[0]["seq"], entered["seq"]);

    // A client catching up from the creation reads the same frame back.
    let mut late = connect(&broadcaster.url).await;
    send(
        &mut late,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 1}),
    )
    .await;
    let replayed = frames_until(&mut late, "geofence_entered").await;
    assert_eq!(replayed.last(), Some(&entered), "the same frame, read back");
}
