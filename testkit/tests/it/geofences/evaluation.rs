//! Fixes against zones, end to end: posted through ingest, evaluated by the
//! location pool, read back as package notices and zones.

use super::{circle, north, notices, notices_are, second, LONGITUDE};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shared::wire::{Envelope, LocationBatch, LocationPoint};
use testkit::app::{tracking_number, TestApp};

fn fix(
    tn: &str,
    start: chrono::DateTime<Utc>,
    seconds: i64,
    metres_north: f64,
    accuracy_m: f64,
) -> Value {
    json!({
        "tracking_number": tn,
        "latitude": north(metres_north),
        "longitude": LONGITUDE,
        "recorded_at": second(start, seconds),
        "accuracy_m": accuracy_m,
    })
}

async fn post(app: &TestApp, points: &[Value]) {
    let response = app.post_json("/locations", &json!(points)).await;
    assert_eq!(response.status(), 202, "the points are accepted");
}

async fn package(app: &TestApp, tn: &str) -> Value {
    app.get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .expect("the package")
}

#[tokio::test]
async fn jitter_at_a_border_enters_and_exits_once_and_a_late_point_moves_nothing() {
    let app = TestApp::spawn().await;
    let depot = circle(&app, "Depot", 0.0, 100.0, json!({})).await;
    circle(&app, "Marker", 5_000.0, 100.0, json!({})).await;
    let tn = tracking_number();
    app.created(&tn).await;
    let start = Utc::now() - Duration::minutes(10);
    // Clearly outside, then twenty fixes a few metres either side of the
    // border (within their 20 m accuracy), then settled inside.
    let mut points = vec![fix(&tn, start, 0, 300.0, 10.0)];
    for i in 1..=20 {
        let metres = if i % 2 == 0 { 97.0 } else { 103.0 };
        points.push(fix(&tn, start, i * 5, metres, 20.0));
    }
    points.push(fix(&tn, start, 200, 0.0, 10.0));
    post(&app, &points).await;
    let entered = notices_are(&app, &tn, &["geofence_entered Depot"]).await;
    assert_eq!(entered[0]["zone_id"], depot["id"]);
    let inside = package(&app, &tn).await;
    assert_eq!(
        inside["zones"][0]["name"], "Depot",
        "the read names the zone it is in"
    );
    assert_eq!(
        inside["seq"], entered[0]["seq"],
        "the notice is the package's last event"
    );

    // Jitter on the way out too, then clearly gone.
    let mut points = Vec::new();
    for i in 0..10 {
        let metres = if i % 2 == 0 { 97.0 } else { 103.0 };
        points.push(fix(&tn, start, 210 + i * 5, metres, 20.0));
    }
    points.push(fix(&tn, start, 300, 400.0, 10.0));
    post(&app, &points).await;
    notices_are(
        &app,
        &tn,
        &["geofence_entered Depot", "geofence_exited Depot"],
    )
    .await;
    assert_eq!(package(&app, &tn).await["zones"], json!([]));

    // A late point (older than the latest) deep inside, in the same
    // window as a new one entering the marker: the marker's entry shows
    // the window was evaluated; the late point made nothing.
    post(
        &app,
        &[
            fix(&tn, start, 250, 0.0, 5.0),
            fix(&tn, start, 400, 5_000.0, 5.0),
        ],
    )
    .await;
    let all = notices_are(
        &app,
        &tn,
        &[
            "geofence_entered Depot",
            "geofence_exited Depot",
            "geofence_entered Marker",
        ],
    )
    .await;
    let seqs: Vec<i64> = all.iter().filter_map(|n| n["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {seqs:?}"
    );
}

#[tokio::test]
async fn a_stay_dwells_once_a_straddling_move_crosses_and_a_redelivered_window_repeats_nothing() {
    let mut app = TestApp::spawn().await;
    circle(&app, "Yard", 0.0, 100.0, json!({"dwell_s": 60})).await;
    circle(&app, "Gate", 2_000.0, 30.0, json!({})).await;
    let tn = tracking_number();
    app.created(&tn).await;
    let start = Utc::now() - Duration::minutes(10);
    // Outside, then inside for three minutes in fixes 20 s apart.
    let mut points = vec![point(&tn, start, 0, 500.0)];
    points.extend((1..=9).map(|i| point(&tn, start, i * 20, 10.0)));
    // Then two fixes 10 s apart either side of a 30 m gate 2 km north.
    points.push(point(&tn, start, 300, 1_800.0));
    points.push(point(&tn, start, 310, 2_200.0));
    let envelope = Envelope::new(
        uuid::Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        LocationBatch::new(points),
    );
    app.env.publish_locations(&envelope).await;
    let expected = [
        "geofence_entered Yard",
        "geofence_dwelled Yard",
        "geofence_exited Yard",
        "geofence_crossed Gate",
    ];
    let first = notices_are(&app, &tn, &expected).await;
    assert_eq!(
        first[1]["since"], first[0]["since"],
        "the dwell names when the stay began"
    );

    // The same window again, as a broker redelivers it after a crash.
    app.env.publish_locations(&envelope).await;
    app.settle_queue(&app.env.topology().locations_queue())
        .await;
    let again = notices(&app, &tn).await;
    let ids = |n: &[Value]| n.iter().map(|n| n["event_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&first), "nothing twice");
    let dead = app.env.queue_depth(&app.env.topology().dead_queue()).await;
    assert_eq!(dead, 0, "the redelivered window was applied, not refused");
}

/// A point as the location pool receives it (accuracy 5 m).
fn point(tn: &str, start: chrono::DateTime<Utc>, seconds: i64, metres_north: f64) -> LocationPoint {
    let mut point = testkit::location_point(tn);
    point.coordinates = shared::domain::Coordinates::new(north(metres_north), LONGITUDE)
        .expect("valid coordinates");
    point.recorded_at = start + Duration::seconds(seconds);
    point.measurements.accuracy_m = Some(5.0);
    point
}
