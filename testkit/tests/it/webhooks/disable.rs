//! An endpoint that fails without a single success for
//! `WEBHOOK_DISABLE_AFTER_S` is disabled (no more attempts, its pending
//! deliveries cancelled) and its owner gets one email saying so; enabling
//! it again is the owner's `"paused": false`.

use super::receiver::{Answer, Receiver};
use super::{deliveries, register, DELIVERY_WAIT};
use serde_json::json;
use shared::auth::Role;
use std::time::Duration;
use testkit::app::{package_body, tracking_number, Options, TestApp};
use testkit::mail;

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled_and_its_owner_mailed() {
    let app = TestApp::spawn_with(
        Options::default()
            .with_mail()
            .with_webhooks(|settings| settings.disable_after = Duration::from_secs(2)),
    )
    .await;
    let owner = app.caller(Role::Dispatcher).await;
    let address = owner.email.as_ref().unwrap().as_str().to_owned();
    let client = app.client_as(&owner);
    let receiver = Receiver::start(vec![Answer::Status(500); 1000]).await;
    let webhook = register(&app, &client, &receiver.url(), &["created"]).await;
    let id = webhook["id"].as_str().unwrap();
    app.post_json("/packages", &package_body(&tracking_number()))
        .await;

    let disabled = testkit::eventually(DELIVERY_WAIT, "the endpoint disabled", || async {
        let read: serde_json::Value = client
            .get(app.url(&format!("/webhooks/{id}")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (!read["disabled_at"].is_null()).then_some(read)
    })
    .await;
    assert!(!disabled["failing_since"].is_null());
    let told = mail::next_to(&address, DELIVERY_WAIT).await;
    assert_eq!(told.subject, "Your DeliverTrack webhook was disabled");
    assert!(told.body.contains(id), "{}", told.body);

    // No more attempts once disabled.
    let calls = receiver.received().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.received().len(),
        calls,
        "a disabled endpoint is not called"
    );
    let log = deliveries(&app, &client, id).await;
    assert_eq!(log[0]["state"], "cancelled");
    assert_eq!(mail::count_to(&address), 0, "one mail, no second");

    // Enabled again by its owner.
    let enabled: serde_json::Value = client
        .patch(app.url(&format!("/webhooks/{id}")))
        .json(&json!({"paused": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        enabled["disabled_at"].is_null() && enabled["failing_since"].is_null(),
        "{enabled}"
    );
    app.shutdown().await;
}
