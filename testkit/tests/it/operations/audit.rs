//! The audit trail: every accepted write, with who (account or device),
//! when, from which address and what changed; only admins read it.

use serde_json::{json, Value};
use shared::auth::Role;
use testkit::app::{expect_error, tracking_number, TestApp, WAIT};

async fn trail(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.get(&format!("/audit{query}")).await;
    assert_eq!(response.status(), 200);
    let records: Value = response.json().await.unwrap();
    records.as_array().unwrap().clone()
}

fn find<'a>(records: &'a [Value], action: &str, target: &str) -> Option<&'a Value> {
    records
        .iter()
        .find(|r| r["action"] == action && r["target"] == target)
}

#[tokio::test]
async fn every_accepted_write_is_recorded_with_who_when_where_and_what() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let dispatcher = app.caller(Role::Dispatcher).await;
    let moved = app
        .client_as(&dispatcher)
        .put(app.url(&format!("/packages/{tn}/status")))
        .json(&json!({"status": "in_transit", "location": "Hub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    // A refused write changes nothing and is not recorded.
    let refused = app.set_status(&tn, "delivered").await;
    expect_error(refused, 409).await;
    let courier = app.courier().await;
    app.deliver(&courier, &[&tn]).await;
    let device = app
        .post_json(
            "/devices",
            &json!({"name": "tracker", "courier_id": courier.user_id}),
        )
        .await;
    let device: Value = device.json().await.unwrap();
    let posted = reqwest::Client::new()
        .post(app.url(&format!("/packages/{tn}/locations")))
        .header("x-api-key", device["api_key"].as_str().unwrap())
        .json(&json!({"latitude": 40.7, "longitude": -74.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);

    let records = testkit::eventually(WAIT, "the location post in the trail", || async {
        let records = trail(&app, "?limit=1000").await;
        find(&records, "locations", &tn)
            .is_some()
            .then_some(records)
    })
    .await;
    let created = find(&records, "create", &tn).expect("the create");
    assert_eq!(created["actor"], app.admin.user_id.to_string());
    assert_eq!(created["actor_role"], "admin");
    assert_eq!(created["address"], "127.0.0.1");
    assert_eq!(created["change"]["data"]["sender_name"], "Ann Sender");
    assert!(created["occurred_at"].is_string());
    let status = find(&records, "status", &tn).expect("the status change");
    assert_eq!(status["actor"], dispatcher.user_id.to_string());
    assert_eq!(status["change"]["data"]["status"], "in_transit");
    let statuses = records
        .iter()
        .filter(|r| r["action"] == "status" && r["target"] == tn.as_str())
        .count();
    assert_eq!(statuses, 1, "the refused change is not in the trail");
    let located = find(&records, "locations", &tn).unwrap();
    assert_eq!(located["actor"], courier.user_id.to_string());
    assert_eq!(located["device_id"], device["id"]);
    assert_eq!(located["address"], "127.0.0.1");
    assert_eq!(located["change"]["points"], 1);
    let registered = records
        .iter()
        .find(|r| r["action"] == "register" && r["change"]["data"]["role"] == "courier")
        .expect("the courier's account");
    assert!(
        registered["change"]["data"].get("password_hash").is_none(),
        "no secret in the trail: {registered}"
    );
    let device_row = find(&records, "device_register", device["id"].as_str().unwrap()).unwrap();
    assert!(device_row["change"]["data"].get("key_hash").is_none());

    let mine = trail(&app, &format!("?actor={}", dispatcher.user_id)).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let later = trail(&app, "?since=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    let bad = app.get("/audit?since=yesterday").await;
    expect_error(bad, 422).await;
    let dispatchers = app
        .client_as(&dispatcher)
        .get(app.url("/audit"))
        .send()
        .await
        .unwrap();
    expect_error(dispatchers, 403).await;
    app.shutdown().await;
}
