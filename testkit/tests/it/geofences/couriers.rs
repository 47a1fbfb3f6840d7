//! A courier's zones: the courier's own events and read, and the packages
//! riding with them told only what their watchers may learn.

use super::{circle, north, notices, notices_are, second, LONGITUDE};
use chrono::Utc;
use serde_json::{json, Value};
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::eventually;

#[tokio::test]
async fn a_courier_entering_a_zone_is_told_and_so_are_parcels_out_for_delivery_not_in_transit() {
    let app = TestApp::spawn().await;
    let depot = circle(&app, "Depot", 0.0, 100.0, json!({})).await;
    let courier = app.courier().await;
    let (out, in_transit) = (tracking_number(), tracking_number());
    for tn in [&out, &in_transit] {
        app.created(tn).await;
        app.status_changed(tn, json!({"status": "in_transit"}))
            .await;
    }
    app.status_changed(&out, json!({"status": "out_for_delivery"}))
        .await;
    app.deliver(&courier, &[&out, &in_transit]).await;
    // After boarding: a fix from before is not the parcels'.
    let start = Utc::now();
    let fixes: Vec<Value> = [(0, 400.0), (1, 10.0), (2, 0.0)]
        .iter()
        .map(|(s, m)| json!({"latitude": north(*m), "longitude": LONGITUDE, "recorded_at": second(start, *s), "accuracy_m": 5.0}))
        .collect();
    let posted = app
        .client_as(&courier)
        .post(app.url("/me/locations"))
        .json(&fixes)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);

    let entered = notices_are(&app, &out, &["geofence_entered Depot"]).await;
    assert!(
        entered[0].get("latitude").is_none(),
        "a package's notice never carries its courier's position: {}",
        entered[0]
    );
    let read: Value = eventually(WAIT, "the courier read to name the zone", || async {
        let read: Value = app
            .get(&format!("/couriers/{}", courier.user_id))
            .await
            .json()
            .await
            .ok()?;
        (read["zones"][0]["id"] == depot["id"]).then_some(read)
    })
    .await;
    assert_eq!(read["zones"][0]["name"], "Depot");
    let package: Value = app
        .get(&format!("/packages/{out}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(package["zones"][0]["name"], "Depot");
    // A parcel merely in transit shows nothing of where its courier is.
    assert!(notices(&app, &in_transit).await.is_empty());
    let hidden: Value = app
        .get(&format!("/packages/{in_transit}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hidden["zones"], json!([]));
}
