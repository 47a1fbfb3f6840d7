//! Couriers' events to webhooks: a dispatcher's endpoint that asks gets a
//! courier's presence and (opted in) moves, naming the courier, signed like
//! any call and logged with the courier; an endpoint that did not ask gets
//! none; a customer may not ask for them, nor keep getting them once
//! demoted.

use super::receiver::Receiver;
use super::{deliveries, register, DELIVERY_WAIT};
use serde_json::{json, Value};
use shared::auth::{Caller, Role};
use std::time::Duration;
use testkit::app::{expect_error, Options, TestApp};

async fn report(app: &TestApp, courier: &Caller, latitude: f64) {
    let response = app
        .client_as(courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": latitude, "longitude": 13.4, "battery_pct": 64}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

/// The calls of `kind` the receiver got so far.
fn of_kind(receiver: &Receiver, kind: &str) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|body| body["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_dispatchers_endpoint_gets_courier_events_it_asked_for_and_a_customer_cannot_ask() {
    let app = TestApp::spawn_with(Options::default().with_webhooks(|_| {})).await;
    let dispatcher_account = app.caller(Role::Dispatcher).await;
    let dispatcher = app.client_as(&dispatcher_account);
    let customer = app.client_as(&app.caller(Role::Customer).await);
    let refused = customer
        .post(app.url("/webhooks"))
        .json(
            &json!({"url": "https://example.com/hook", "events": ["created", "courier_presence"]}),
        )
        .send()
        .await
        .unwrap();
    let error = expect_error(refused, 422).await;
    assert!(error.contains("courier_presence"), "{error}");

    let (couriers, packages_only) = (
        Receiver::start(Vec::new()).await,
        Receiver::start(Vec::new()).await,
    );
    let endpoint = register(
        &app,
        &dispatcher,
        &couriers.url(),
        &["courier_presence", "courier_moved"],
    )
    .await;
    register(
        &app,
        &dispatcher,
        &packages_only.url(),
        &["created", "location"],
    )
    .await;

    // The first fix brings the device online; moves are bound once the pool
    // sees an endpoint wants them (within seconds): keep reporting until
    // one is delivered.
    let courier = app.courier().await;
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    let mut latitude = 52.0;
    while of_kind(&couriers, "courier_moved").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no courier_moved call"
        );
        report(&app, &courier, latitude).await;
        latitude += 0.001;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let presence = of_kind(&couriers, "courier_presence");
    assert_eq!(presence.len(), 1, "{presence:?}");
    let courier_id = courier.user_id.to_string();
    assert_eq!(presence[0]["data"]["presence"], "online");
    assert_eq!(presence[0]["data"]["courier_id"], courier_id.as_str());
    assert_eq!(presence[0]["data"]["battery_pct"], 64.0);
    let moved = &of_kind(&couriers, "courier_moved")[0];
    assert_eq!(moved["data"]["courier_id"], courier_id.as_str());
    let first_point = &moved["data"]["points"][0];
    assert!(
        first_point["latitude"].as_f64().is_some_and(|l| l >= 52.0),
        "{moved}"
    );
    for call in couriers.received() {
        assert!(call.header("x-delivertrack-signature").starts_with("t="));
    }

    // The log names the courier (no package, no seq).
    let log = deliveries(&app, &dispatcher, endpoint["id"].as_str().unwrap()).await;
    let logged = log
        .iter()
        .find(|d| d["type"] == "courier_presence")
        .expect("the presence call in the log");
    assert_eq!(logged["courier_id"], courier_id.as_str());
    assert!(logged.get("tracking_number").is_none(), "{logged}");
    assert!(
        packages_only.received().iter().all(|r| !r.json()["type"]
            .as_str()
            .unwrap_or("")
            .starts_with("courier_")),
        "an endpoint that did not ask got courier events"
    );

    // Made a customer, the owner gets no courier's event any more: not the
    // next one, not a redelivery, and the log no longer lists them.
    let demoted = app
        .http
        .patch(app.url(&format!("/users/{}", dispatcher_account.user_id)))
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);
    let customer_now = app.client_as(&Caller {
        role: Role::Customer,
        ..dispatcher_account.clone()
    });
    let webhook_id = endpoint["id"].as_str().unwrap();
    let redeliver = customer_now
        .post(app.url(&format!(
            "/webhooks/{webhook_id}/deliveries/{}/redeliver",
            logged["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    expect_error(redeliver, 404).await;
    assert!(deliveries(&app, &customer_now, webhook_id).await.is_empty());
    let before = couriers.received().len();
    for _ in 0..3 {
        report(&app, &courier, latitude).await;
        latitude += 0.001;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        couriers.received().len(),
        before,
        "courier events after the demotion"
    );
    app.shutdown().await;
}
