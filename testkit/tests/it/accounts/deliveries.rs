//! Deliveries: a dispatcher's runs of stops for couriers, through the
//! pipeline, and the rights over packages they give couriers.

use serde_json::{json, Value};
use shared::auth::Role;
use testkit::app::{expect_error, tracking_number, TestApp};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

fn stop_numbers(delivery: &Value) -> Vec<String> {
    delivery["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tracking_number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_dispatcher_plans_reorders_reassigns_and_completes_a_run() {
    let app = TestApp::spawn().await;
    let dispatcher = app.client_as(&app.caller(Role::Dispatcher).await);
    let (carl, dana) = (app.courier().await, app.courier().await);
    let stops: Vec<String> = (0..3).map(|_| tracking_number()).collect();
    for tn in &stops {
        app.created(tn).await;
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let id = plan(&app, &dispatcher, carl.user_id, &today, &stops).await;
    // The courier sees the run and may act on its packages.
    let carl_client = app.client_as(&carl);
    let mine = json_of(
        carl_client
            .get(app.url("/me/deliveries"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], id.as_str());
    let moved = carl_client
        .put(app.url(&format!("/packages/{}/status", stops[0])))
        .json(&json!({"status": "in_transit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    reorder(&app, &dispatcher, &id, &stops).await;
    // Reassign: the rights move with the run.
    let dana_client = app.client_as(&dana);
    let package = format!("/packages/{}", stops[1]);
    let reassigned = patch(&app, &dispatcher, &id, json!({"courier_id": dana.user_id})).await;
    assert_eq!(
        json_of(reassigned).await["courier_id"],
        dana.user_id.to_string()
    );
    let as_carl = carl_client.get(app.url(&package)).send().await.unwrap();
    assert_eq!(
        as_carl.status(),
        404,
        "the former courier no longer sees it"
    );
    assert_eq!(status_of(&app, &dana_client, &package).await, 200);
    assert_eq!(
        status_of(&app, &dana_client, &format!("/deliveries/{id}")).await,
        200
    );
    let others = carl_client
        .get(app.url(&format!("/deliveries/{id}")))
        .send()
        .await
        .unwrap();
    expect_error(others, 404).await;
    // Complete: the run ends, and with it the courier's rights.
    let completed = patch(&app, &dispatcher, &id, json!({"status": "completed"})).await;
    assert_eq!(json_of(completed).await["status"], "completed");
    assert_eq!(status_of(&app, &dana_client, &package).await, 404);
    let changed_after = patch(&app, &dispatcher, &id, json!({"stops": [stops[0]]})).await;
    expect_error(changed_after, 409).await;
    let query = format!("/deliveries?courier_id={}&day={today}", dana.user_id);
    let listed = json_of(dispatcher.get(app.url(&query)).send().await.unwrap()).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    app.shutdown().await;
}

/// Creates the run and checks what it answers with; its id.
async fn plan(
    app: &TestApp,
    dispatcher: &reqwest::Client,
    courier: uuid::Uuid,
    today: &str,
    stops: &[String],
) -> String {
    let created = dispatcher
        .post(app.url("/deliveries"))
        .json(&json!({"courier_id": courier, "day": today, "stops": stops}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let delivery = json_of(created).await;
    let id = delivery["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/deliveries/{id}"));
    assert_eq!(delivery["status"], "assigned");
    assert_eq!(delivery["day"], today);
    assert_eq!(stop_numbers(&delivery), stops);
    assert_eq!(delivery["stops"][0]["position"], 1);
    assert_eq!(delivery["stops"][0]["status"], "pending");
    id
}

async fn reorder(app: &TestApp, dispatcher: &reqwest::Client, id: &str, stops: &[String]) {
    let reordered: Vec<&String> = vec![&stops[2], &stops[0], &stops[1]];
    let patched = patch(app, dispatcher, id, json!({"stops": reordered})).await;
    assert_eq!(patched.status(), 200);
    let patched = json_of(patched).await;
    assert_eq!(
        stop_numbers(&patched),
        [stops[2].clone(), stops[0].clone(), stops[1].clone()]
    );
    assert_eq!(
        patched["stops"][1]["status"], "in_transit",
        "stops show the package's status"
    );
}

async fn patch(
    app: &TestApp,
    dispatcher: &reqwest::Client,
    id: &str,
    change: Value,
) -> reqwest::Response {
    dispatcher
        .patch(app.url(&format!("/deliveries/{id}")))
        .json(&change)
        .send()
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, client: &reqwest::Client, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn deliveries_refuse_what_cannot_be_delivered() {
    let app = TestApp::spawn().await;
    let carl = app.courier().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let today = chrono::Utc::now().date_naive().to_string();
    let unknown_package = tracking_number();
    let cases = [
        (
            json!({"courier_id": carl.user_id, "day": today, "stops": [tn, unknown_package]}),
            "no such package",
        ),
        (
            json!({"courier_id": uuid::Uuid::new_v4(), "day": today, "stops": [tn]}),
            "names no account",
        ),
        (
            json!({"courier_id": app.admin.user_id, "day": today, "stops": [tn]}),
            "not a courier's account",
        ),
        (
            json!({"courier_id": carl.user_id, "day": today, "stops": [tn, tn]}),
            "repeats",
        ),
        (
            json!({"courier_id": carl.user_id, "day": "tomorrow", "stops": [tn]}),
            "day",
        ),
        (
            json!({"courier_id": carl.user_id, "day": today, "stops": []}),
            "stops",
        ),
        (
            json!({"courier_id": "nope", "day": today, "stops": [tn]}),
            "courier_id",
        ),
    ];
    for (body, words) in cases {
        let message = expect_error(app.post_json("/deliveries", &body).await, 422).await;
        assert!(message.contains(words), "{body}: {message}");
    }
    let customer = app.client_as(&app.caller(Role::Customer).await);
    let courier = app.client_as(&carl);
    for client in [&customer, &courier] {
        let response = client
            .post(app.url("/deliveries"))
            .json(&json!({"courier_id": carl.user_id, "day": today, "stops": [tn]}))
            .send()
            .await
            .unwrap();
        expect_error(response, 403).await;
        let listed = client.get(app.url("/deliveries")).send().await.unwrap();
        expect_error(listed, 403).await;
    }
    let missing = app
        .get(&format!("/deliveries/{}", uuid::Uuid::new_v4()))
        .await;
    expect_error(missing, 404).await;
    let malformed = app.get("/deliveries/not-a-uuid").await;
    expect_error(malformed, 404).await;
    let nothing = app
        .http
        .patch(app.url(&format!("/deliveries/{}", uuid::Uuid::new_v4())))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(nothing, 422).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing refused was stored");
    app.shutdown().await;
}
