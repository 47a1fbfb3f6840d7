//! `/api/v1/geofences`: admins and dispatchers draw, read, change and
//! delete zones; no one else may; a bad zone is a 422 naming the field,
//! and nothing is stored.

use super::{circle, north, LATITUDE, LONGITUDE};
use serde_json::{json, Value};
use shared::auth::Role;
use testkit::app::{expect_error, TestApp};

#[tokio::test]
async fn a_zone_is_drawn_read_found_at_its_point_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let depot = circle(&app, "Depot", 0.0, 150.0, json!({"dwell_s": 120})).await;
    let id = depot["id"].as_str().expect("an id").to_owned();
    assert_eq!(depot["circle"]["radius_m"], 150.0);
    assert_eq!(depot["debounce_s"], 30, "the default debounce");
    let square = json!({"type": "Polygon", "coordinates": [[
        [LONGITUDE + 0.1, LATITUDE], [LONGITUDE + 0.11, LATITUDE], [LONGITUDE + 0.11, LATITUDE + 0.01],
        [LONGITUDE + 0.1, LATITUDE + 0.01], [LONGITUDE + 0.1, LATITUDE]]]});
    let response = app
        .post_json(
            "/geofences",
            &json!({"name": "Square", "polygon": square, "tracking_numbers": ["TRK00001"]}),
        )
        .await;
    assert_eq!(response.status(), 201);

    let one: Value = app
        .get(&format!("/geofences/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one, depot);
    let all: Vec<Value> = app.get("/geofences").await.json().await.unwrap();
    assert_eq!(all.len(), 2);
    let here = format!("/geofences?latitude={}&longitude={LONGITUDE}", north(100.0));
    let at: Vec<Value> = app.get(&here).await.json().await.unwrap();
    assert_eq!(
        at,
        vec![depot.clone()],
        "only the zone containing the point"
    );

    let changed = app
        .http
        .patch(app.url(&format!("/geofences/{id}")))
        .json(&json!({"name": "Main depot", "dwell_s": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["name"], "Main depot");
    assert_eq!(changed["dwell_s"], Value::Null);
    assert_eq!(changed["circle"], depot["circle"], "absent fields stay");

    let deleted = app
        .http
        .delete(app.url(&format!("/geofences/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    expect_error(app.get(&format!("/geofences/{id}")).await, 404).await;
    let again = app
        .http
        .delete(app.url(&format!("/geofences/{id}")))
        .send()
        .await
        .unwrap();
    expect_error(again, 404).await;
    let all: Vec<Value> = app.get("/geofences").await.json().await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_bad_zone_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let bowtie = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]});
    let open_ring =
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.01, 0.0], [0.01, 0.01]]]});
    let cases = [
        (
            json!({"circle": {"latitude": 1.0, "longitude": 1.0, "radius_m": 10.0}}),
            "name",
        ),
        (json!({"name": "x"}), "circle"),
        (
            json!({"name": "x", "circle": {"latitude": 91.0, "longitude": 1.0, "radius_m": 10.0}}),
            "circle",
        ),
        (
            json!({"name": "x", "circle": {"latitude": 1.0, "longitude": 1.0, "radius_m": 500000.0}}),
            "circle",
        ),
        (json!({"name": "x", "polygon": bowtie}), "polygon"),
        (json!({"name": "x", "polygon": open_ring}), "polygon"),
        (
            json!({"name": "x", "circle": {"latitude": 1.0, "longitude": 1.0, "radius_m": 10.0}, "dwell_s": -1}),
            "dwell_s",
        ),
        (
            json!({"name": "x", "circle": {"latitude": 1.0, "longitude": 1.0, "radius_m": 10.0}, "courier_ids": ["nope"]}),
            "courier_ids",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/geofences", &body).await;
        let error = expect_error(response, 422).await;
        assert!(error.contains(field), "{body} names {field}: {error}");
    }
    let all: Vec<Value> = app.get("/geofences").await.json().await.unwrap();
    assert!(all.is_empty(), "nothing stored: {all:?}");
    let response = app
        .http
        .patch(app.url("/geofences/00000000-0000-0000-0000-000000000001"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(response, 422).await;
}

#[tokio::test]
async fn couriers_customers_and_strangers_may_not_draw_or_read_zones() {
    let app = TestApp::spawn().await;
    let depot = circle(&app, "Depot", 0.0, 100.0, json!({})).await;
    let id = depot["id"].as_str().unwrap();
    let body =
        json!({"name": "Mine", "circle": {"latitude": 1.0, "longitude": 1.0, "radius_m": 10.0}});
    for role in [Role::Courier, Role::Customer] {
        let caller = app.caller(role).await;
        let client = app.client_as(&caller);
        let posted = client
            .post(app.url("/geofences"))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(posted, 403).await;
        expect_error(client.get(app.url("/geofences")).send().await.unwrap(), 403).await;
        expect_error(
            client
                .get(app.url(&format!("/geofences/{id}")))
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;
        expect_error(
            client
                .delete(app.url(&format!("/geofences/{id}")))
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;
    }
    let stranger = reqwest::Client::new();
    let status = stranger
        .get(app.url("/geofences"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let dispatcher = app.client_as(&app.caller(Role::Dispatcher).await);
    let posted = dispatcher
        .post(app.url("/geofences"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201, "dispatchers draw zones");
}
