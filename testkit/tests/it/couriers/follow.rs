//! Packages follow their courier: a courier's point moves every package of
//! their active runs that is in transit or out for delivery, and no other;
//! a package handed to another courier follows them from then on; its
//! history read is the trail it travelled.

use serde_json::{json, Value};
use shared::auth::Caller;
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::eventually;

/// Posts the courier's own position with their token.
async fn report(app: &TestApp, courier: &Caller, latitude: f64) {
    let response = app
        .client_as(courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": latitude, "longitude": 30.0}))
        .send()
        .await
        .expect("POST /me/location");
    assert_eq!(response.status(), 202);
}

async fn package(app: &TestApp, tn: &str) -> Value {
    app.get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .expect("the package")
}

/// A new package moved through `statuses` (in order).
async fn package_in(app: &TestApp, statuses: &[&str]) -> String {
    let tn = tracking_number();
    app.created(&tn).await;
    for status in statuses {
        app.status_changed(&tn, json!({ "status": status })).await;
    }
    tn
}

/// Waits until `tn` reads at `latitude`, aboard `courier`.
async fn reads_at(app: &TestApp, tn: &str, latitude: f64, courier: &Caller) {
    eventually(WAIT, &format!("{tn} at {latitude}"), || async {
        let read = package(app, tn).await;
        (read["latitude"] == json!(latitude)
            && read["courier"]["id"] == json!(courier.user_id.to_string()))
        .then_some(())
    })
    .await;
}

async fn trail(app: &TestApp, tn: &str) -> Vec<f64> {
    let history: Vec<Value> = app
        .get(&format!("/packages/{tn}/locations"))
        .await
        .json()
        .await
        .expect("the history");
    history
        .iter()
        .filter_map(|p| p["latitude"].as_f64())
        .collect()
}

#[tokio::test]
async fn a_courier_point_moves_every_active_package_of_their_runs_and_no_other() {
    let app = TestApp::spawn().await;
    let (carl, dora) = (app.courier().await, app.courier().await);
    let in_transit = package_in(&app, &["in_transit"]).await;
    let out = package_in(&app, &["in_transit", "out_for_delivery"]).await;
    let delivered = package_in(&app, &["in_transit", "out_for_delivery", "delivered"]).await;
    let pending = package_in(&app, &[]).await;
    let doras = package_in(&app, &["in_transit"]).await;
    let handed = package_in(&app, &["in_transit"]).await;
    app.deliver(&carl, &[&in_transit, &out, &delivered, &pending])
        .await;
    app.deliver(&dora, &[&doras]).await;
    let handover = app.deliver(&carl, &[&handed]).await;

    report(&app, &carl, 10.0).await;
    for tn in [&in_transit, &out, &handed] {
        reads_at(&app, tn, 10.0, &carl).await;
    }
    for tn in [&delivered, &pending] {
        let read = package(&app, tn).await;
        assert_eq!(read["latitude"], Value::Null, "{tn} stays where it was");
        assert_eq!(read["courier"], Value::Null, "{tn} rides with nobody");
    }
    let with_dora = package(&app, &doras).await;
    assert_eq!(
        with_dora["latitude"],
        Value::Null,
        "Carl's point is not Dora's package's"
    );
    assert_eq!(with_dora["courier"]["id"], json!(dora.user_id.to_string()));
    assert_eq!(
        with_dora["courier"]["presence"],
        Value::Null,
        "Dora never reported"
    );
    let named = package(&app, &out).await;
    assert_eq!(named["courier"]["presence"], json!("online"));

    // Handed to Dora: from now on it follows her, not Carl.
    let id = handover["id"].as_str().expect("a delivery id");
    let reassigned = app
        .http
        .patch(app.url(&format!("/deliveries/{id}")))
        .json(&json!({"courier_id": dora.user_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(reassigned.status(), 200);
    // Until Dora reports, it is where Carl last carried it: the hand-over
    // moved it, so its cached view (read above) went too.
    reads_at(&app, &handed, 10.0, &dora).await;
    report(&app, &dora, 20.0).await;
    reads_at(&app, &handed, 20.0, &dora).await;
    reads_at(&app, &doras, 20.0, &dora).await;
    report(&app, &carl, 30.0).await;
    reads_at(&app, &in_transit, 30.0, &carl).await;
    assert_eq!(
        package(&app, &handed).await["latitude"],
        json!(20.0),
        "Carl's point is not its"
    );

    // Delivered: it stays where it was last carried.
    app.status_changed(&out, json!({"status": "delivered"}))
        .await;
    report(&app, &carl, 40.0).await;
    reads_at(&app, &in_transit, 40.0, &carl).await;
    let done = package(&app, &out).await;
    assert_eq!(done["latitude"], json!(30.0));
    assert_eq!(done["courier"], Value::Null);

    // The trails: each package's while it rode along, newest first.
    assert_eq!(trail(&app, &handed).await, vec![20.0, 10.0]);
    assert_eq!(trail(&app, &in_transit).await, vec![40.0, 30.0, 10.0]);
    assert_eq!(trail(&app, &out).await, vec![30.0, 10.0]);
    assert!(trail(&app, &delivered).await.is_empty());
    app.shutdown().await;
}

/// What a stranger with the tracking number, or the customer, learns of the
/// courier: where the parcel is once it is out for delivery, never before
/// (the courier's whereabouts are theirs), never who or their battery, and
/// never the courier's trail through other recipients' streets.
#[tokio::test]
async fn outsiders_see_the_courier_only_once_out_for_delivery_and_never_their_trail() {
    let app = TestApp::spawn().await;
    let carl = app.courier().await;
    let customer = app.caller(shared::auth::Role::Customer).await;
    let customer_client = app.client_as(&customer);
    let mut body = testkit::app::customer_package_body();
    body["recipient_name"] = json!("Cara Customer");
    let parcel = app.create_as_customer(&customer_client, body).await;
    app.status_changed(&parcel, json!({"status": "in_transit"}))
        .await;
    app.deliver(&carl, &[&parcel]).await;
    report(&app, &carl, 10.0).await;
    reads_at(&app, &parcel, 10.0, &carl).await;

    let public = || async {
        let tracked: Value = reqwest::get(app.url(&format!("/track/{parcel}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tracked
    };
    let as_customer = || async {
        let read: Value = customer_client
            .get(app.url(&format!("/packages/{parcel}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        read
    };
    // In transit: the courier's position is nobody else's business.
    assert_eq!(public().await["last_position"], Value::Null);
    let read = as_customer().await;
    assert_eq!(
        (read["latitude"].clone(), read["courier"].clone()),
        (Value::Null, Value::Null)
    );

    // Out for delivery: the parcel is where the courier is, and only that.
    app.status_changed(&parcel, json!({"status": "out_for_delivery"}))
        .await;
    report(&app, &carl, 20.0).await;
    reads_at(&app, &parcel, 20.0, &carl).await;
    let tracked = public().await;
    assert_eq!(tracked["last_position"]["latitude"], json!(20.0));
    assert!(!tracked.to_string().contains(&carl.user_id.to_string()));
    let read = as_customer().await;
    assert_eq!(read["latitude"], json!(20.0));
    assert_eq!(read["courier"], Value::Null, "not who, nor their battery");
    let trail: Vec<Value> = customer_client
        .get(app.url(&format!("/packages/{parcel}/locations")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        trail.is_empty(),
        "the courier's trail is not the customer's: {trail:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn only_a_courier_reports_a_position_and_only_dispatchers_list_couriers() {
    let app = TestApp::spawn().await;
    let courier = app.courier().await;
    let other = app.courier().await;
    let admin_report = app
        .post_json("/me/location", &json!({"latitude": 1.0, "longitude": 2.0}))
        .await;
    assert_eq!(admin_report.status(), 403);
    let invalid = app
        .client_as(&courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": 91.0, "longitude": 2.0, "battery_pct": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let batch = app
        .client_as(&courier)
        .post(app.url("/me/locations"))
        .json(&json!([{"latitude": 1.0, "longitude": 2.0, "id": "a",
                       "recorded_at": (chrono::Utc::now() - chrono::Duration::seconds(10)).to_rfc3339()},
                      {"latitude": 1.5, "longitude": 2.0, "id": "b", "battery_pct": 80}]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 202);
    let courier_client = app.client_as(&courier);
    let listed = courier_client
        .get(app.url("/couriers"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403, "a courier does not list the fleet");
    let others = courier_client
        .get(app.url(&format!("/couriers/{}/locations", other.user_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        others.status(),
        404,
        "another courier's trail is not theirs"
    );
    let own: Vec<Value> = eventually(WAIT, "the courier's trail", || async {
        let trail: Vec<Value> = courier_client
            .get(app.url(&format!("/couriers/{}/locations", courier.user_id)))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (trail.len() == 2).then_some(trail)
    })
    .await;
    assert_eq!(own[0]["latitude"], json!(1.5), "newest first");
    let fleet: Vec<Value> = app.get("/couriers").await.json().await.unwrap();
    let listed = fleet
        .iter()
        .find(|c| c["id"] == json!(courier.user_id.to_string()))
        .expect("the courier is listed");
    assert_eq!(listed["battery_pct"], json!(80.0));
    app.shutdown().await;
}
