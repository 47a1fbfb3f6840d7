//! Every request shape of Traccar's OsmAnd decoder tests, sent to ingest as
//! a tracker sends it (query, form, JSON; every time form; knots; the
//! `location=` form; unknown ids), on `/osmand` and on the protocol's own
//! port: accepted or refused as Traccar does, and what is accepted stored
//! for the tracker's courier.

use super::{courier_fixes, latitude};
use chrono::Utc;
use serde_json::json;
use testkit::app::{TestApp, WAIT};
use testkit::eventually;

struct Sent {
    status: u16,
    body: String,
}

async fn send(request: reqwest::RequestBuilder) -> Sent {
    let response = request.send().await.expect("an answer");
    Sent {
        status: response.status().as_u16(),
        body: response.text().await.unwrap_or_default(),
    }
}

#[tokio::test]
async fn traccars_request_shapes_are_accepted_or_refused_as_traccar_does_and_stored_for_the_right_courier(
) {
    let app = TestApp::spawn().await;
    let (carl, dora) = (app.courier().await, app.courier().await);
    let (_, imei) = app
        .register_tracker(carl.user_id, Some("353861053849681"))
        .await;
    let (_, generated) = app.register_tracker(dora.user_id, None).await;
    assert!(
        generated.len() >= 32,
        "a generated identifier is long: {generated}"
    );
    let http = reqwest::Client::new();
    let main = app.base.trim_end_matches("/api/v1").to_owned() + "/osmand";
    let port = app.osmand.clone().expect("the OsmAnd port");
    let now = Utc::now();
    let (secs, millis) = (now.timestamp(), now.timestamp_millis());
    let iso = now.format("%Y-%m-%dT%H%%3A%M%%3A%SZ").to_string();
    let plain = now.format("%Y-%m-%d+%H%%3A%M%%3A%S").to_string();
    // Each accepted shape at its own latitude, so its document is known.
    let queries = [
        format!("id={imei}&lat=1.0&lon=30.0&timestamp={iso}&hdop=6.0&altitude=224.0&speed=0.0"),
        format!("id={imei}&lat=2.0&lon=30.0&timestamp={millis}&hdop=6.0"),
        format!("lat=3.0&lon=30.0&timestamp={plain}&altitude=384.7&speed=0.0&id={imei}"),
        format!("id={imei}&timestamp={secs}&lat=4.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0"),
        format!("id={imei}&timestamp={secs}&lat=5.0&lon=30.0"),
        format!("lat=6.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid={imei}"),
        format!("id={imei}&lat=7.0&lon=30.0&altitude=350.059479&speed=0.000000&batt=87"),
        format!("id={imei}&timestamp={secs}&location=8.0,30.0"),
        format!("id={imei}&timestamp={secs}&lat=9.0&lon=30.0&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24"),
        // Cells and Wi-Fi without a position: a heartbeat, not a fix.
        format!("id={imei}&timestamp={secs}&cell=257,02,16,2224&wifi=00-14-22-01-23-45,-80"),
    ];
    for (i, query) in queries.iter().enumerate() {
        // Half on /osmand (GET, as trackers do), half on the port (POST).
        let sent = if i % 2 == 0 {
            send(http.get(format!("{main}?{query}"))).await
        } else {
            send(http.post(format!("{port}/?{query}"))).await
        };
        assert_eq!((sent.status, sent.body.as_str()), (200, ""), "{query}");
    }
    // A form body when the query is empty (Traccar Client 10).
    let form = send(
        http.post(format!("{port}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "id={imei}&lat=10.0&lon=30.0&timestamp={secs}&charge=true&batt=55"
            )),
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.body);
    // Traccar Client 9's JSON, for the other courier's tracker.
    let client_9 = json!({"device_id": generated, "location": {
        "timestamp": now.to_rfc3339(), "is_moving": true, "odometer": 12, "event": "motionchange",
        "coords": {"latitude": 11.0, "longitude": 30.0, "accuracy": 3.8, "speed": 18.67, "heading": 63,
                   "altitude": 35.7},
        "battery": {"level": 0.79, "is_charging": false}, "activity": {"type": "in_vehicle"}}});
    let json_sent = send(http.post(format!("{port}/")).json(&client_9)).await;
    assert_eq!((json_sent.status, json_sent.body.as_str()), (200, ""));

    // Refused as Traccar refuses: no id, an unknown id (400 form, 404 JSON).
    let no_id = send(http.get(format!("{main}?timestamp={secs}&lat=60.0&lon=30.0"))).await;
    assert_eq!(no_id.status, 400);
    let unknown = send(http.get(format!("{main}?id=000000000000000&lat=60.0&lon=30.0"))).await;
    assert_eq!(unknown.status, 400);
    let unknown_json = json!({"device_id": "nobody", "location": {"timestamp": now.to_rfc3339(),
        "coords": {"latitude": 1.0, "longitude": 1.0}}});
    let unknown_json = send(http.post(format!("{port}/")).json(&unknown_json)).await;
    assert_eq!(unknown_json.status, 404);
    // Malformed: a clear JSON error, nothing stored.
    let malformed = send(http.get(format!("{main}?id={imei}&lat=abc&lon=30.0"))).await;
    assert_eq!(malformed.status, 400);
    let error: serde_json::Value = serde_json::from_str(&malformed.body).expect("a JSON error");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("lat")),
        "{error}"
    );

    // A time far outside the rules is answered (or the client would re-send
    // it forever) and dropped: it is not among the fixes counted below.
    let ancient = send(http.get(format!(
        "{main}?id={imei}&lat=50.0&lon=30.0&timestamp=1377177267"
    )))
    .await;
    assert_eq!(ancient.status, 200);

    // Stored for the right courier: Carl's ten fixes, Dora's one.
    let carls = eventually(WAIT, "Carl's fixes", || async {
        let fixes = courier_fixes(&app, carl.user_id).await;
        (fixes.len() == 10).then_some(fixes)
    })
    .await;
    let by_latitude = |lat: f64| {
        carls
            .iter()
            .find(|d| latitude(d) == lat)
            .unwrap_or_else(|| panic!("the fix at {lat}"))
    };
    let knots = by_latitude(9.0).get_f64("speed_mps").expect("a speed");
    assert!((knots - 20.5778).abs() < 1e-3, "40 kn in m/s: {knots}");
    let attributes = by_latitude(9.0)
        .get_document("attributes")
        .expect("attributes");
    assert_eq!(attributes.get_bool("ignition").ok(), Some(true));
    assert_eq!(attributes.get_f64("rpm").ok(), Some(933.0));
    assert_eq!(by_latitude(7.0).get_f64("battery_pct").ok(), Some(87.0));
    let iso_time = by_latitude(1.0)
        .get_datetime("recorded_at")
        .expect("a time");
    assert_eq!(iso_time.timestamp_millis() / 1000, secs, "ISO 8601 read");
    let ms_time = by_latitude(2.0)
        .get_datetime("recorded_at")
        .expect("a time");
    assert_eq!(ms_time.timestamp_millis(), millis, "milliseconds read");
    let plain_time = by_latitude(3.0)
        .get_datetime("recorded_at")
        .expect("a time");
    assert_eq!(
        plain_time.timestamp_millis() / 1000,
        secs,
        "yyyy-MM-dd HH:mm:ss read as UTC"
    );
    let doras = eventually(WAIT, "Dora's fix", || async {
        let fixes = courier_fixes(&app, dora.user_id).await;
        (fixes.len() == 1).then_some(fixes)
    })
    .await;
    assert_eq!(doras[0].get_f64("speed_mps").ok(), Some(18.67), "m/s kept");
    assert_eq!(doras[0].get_f64("battery_pct").ok(), Some(79.0));

    // The courier read: latest fix, battery (the form's 55, charging), presence.
    let courier: serde_json::Value = eventually(WAIT, "Carl's battery", || async {
        let read: serde_json::Value = app
            .get(&format!("/couriers/{}", carl.user_id))
            .await
            .json()
            .await
            .ok()?;
        (read["battery_pct"] == json!(55.0)).then_some(read)
    })
    .await;
    assert_eq!(courier["charging"], json!(true));
    assert_eq!(courier["presence"], json!("online"));
    // The newest fix by when it was taken: reports without a time were
    // taken when received, after the others' `now`; 7.0 came last of them.
    assert_eq!(courier["latitude"], json!(7.0), "the newest fix");
    app.shutdown().await;
}

#[tokio::test]
async fn a_revoked_tracker_and_a_duplicate_identifier_are_refused() {
    let app = TestApp::spawn().await;
    let courier = app.courier().await;
    let (device, unique_id) = app.register_tracker(courier.user_id, Some("IMEI-42")).await;
    let taken = app
        .post_json(
            "/devices",
            &json!({"name": "copy", "courier_id": courier.user_id, "unique_id": "IMEI-42"}),
        )
        .await;
    assert_eq!(taken.status(), 409, "one identifier, one device");
    let bad = app
        .post_json(
            "/devices",
            &json!({"name": "x", "courier_id": courier.user_id, "unique_id": "no spaces"}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let port = app.osmand.clone().expect("the OsmAnd port");
    let http = reqwest::Client::new();
    let report = || http.get(format!("{port}/?id={unique_id}&lat=1&lon=2"));
    assert_eq!(report().send().await.unwrap().status(), 200);
    let revoked = app
        .http
        .delete(app.url(&format!("/devices/{device}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    eventually(WAIT, "the identifier refused", || async {
        (report().send().await.ok()?.status() == 400).then_some(())
    })
    .await;
    app.shutdown().await;
}
