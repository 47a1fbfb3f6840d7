//! Who gets which events: a customer's endpoint the events of its own
//! packages only, a dispatcher's every package's, a paused endpoint none;
//! an endpoint is its owner's alone; a courier may not register one; bad
//! fields are named.

use super::receiver::Receiver;
use super::{register, DELIVERY_WAIT};
use serde_json::json;
use shared::auth::Role;
use std::time::Duration;
use testkit::app::{
    customer_package_body, expect_error, package_body, tracking_number, Options, TestApp,
};

#[tokio::test]
async fn each_endpoint_gets_the_events_its_owner_may_see_and_no_others() {
    let app = TestApp::spawn_with(Options::default().with_webhooks(|_| {})).await;
    let customer = app.caller(Role::Customer).await;
    let customer_client = app.client_as(&customer);
    let dispatcher_client = app.client_as(&app.caller(Role::Dispatcher).await);
    let (mine, all, paused) = (
        Receiver::start(Vec::new()).await,
        Receiver::start(Vec::new()).await,
        Receiver::start(Vec::new()).await,
    );
    register(&app, &customer_client, &mine.url(), &["created"]).await;
    register(&app, &dispatcher_client, &all.url(), &["created"]).await;
    let quiet = register(&app, &app.http, &paused.url(), &["created"]).await;
    let quiet_id = quiet["id"].as_str().unwrap();
    let answer = app
        .http
        .patch(app.url(&format!("/webhooks/{quiet_id}")))
        .json(&json!({"paused": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    let someone_elses = tracking_number();
    app.post_json("/packages", &package_body(&someone_elses))
        .await;
    let own = app
        .create_as_customer(&customer_client, customer_package_body())
        .await;

    let got = all.wait_for(2, DELIVERY_WAIT).await;
    let mut seen: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["tracking_number"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    seen.sort();
    let mut expected = vec![someone_elses.clone(), own.clone()];
    expected.sort();
    assert_eq!(
        seen, expected,
        "the dispatcher's endpoint gets every package"
    );
    let got = mine.wait_for(1, DELIVERY_WAIT).await;
    assert_eq!(got[0].json()["data"]["tracking_number"], own.as_str());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mine.received().len(),
        1,
        "the customer's endpoint: its own package only"
    );
    assert!(
        paused.received().is_empty(),
        "a paused endpoint gets nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_is_its_owners_alone_and_bad_fields_are_named() {
    let app = TestApp::spawn().await;
    let owner = app.client_as(&app.caller(Role::Customer).await);
    let other = app.client_as(&app.caller(Role::Customer).await);
    let courier = app.client_as(&app.caller(Role::Courier).await);
    let url = "http://127.0.0.1:9/hook";
    let webhook = register(&app, &owner, url, &["created", "delivery_late"]).await;
    let id = webhook["id"].as_str().unwrap();
    assert_eq!(webhook["events"], json!(["created", "delivery_late"]));

    let path = app.url(&format!("/webhooks/{id}"));
    assert_eq!(
        other.get(&path).send().await.unwrap().status().as_u16(),
        404
    );
    let patch = other
        .patch(&path)
        .json(&json!({"paused": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status().as_u16(), 404);
    assert_eq!(
        other.delete(&path).send().await.unwrap().status().as_u16(),
        404
    );
    let log = other
        .get(format!("{path}/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(log.status().as_u16(), 404);
    let listed: serde_json::Value = other
        .get(app.url("/webhooks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    let answer = courier
        .post(app.url("/webhooks"))
        .json(&json!({"url": url, "events": ["created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);

    for (body, field) in [
        (json!({"url": url}), "events"),
        (json!({"url": url, "events": []}), "events"),
        (json!({"url": url, "events": ["teleported"]}), "events"),
        (json!({"events": ["created"]}), "url"),
        (json!({"url": "not a url", "events": ["created"]}), "url"),
        (
            json!({"url": url, "events": ["created"], "packages": ["../x"]}),
            "packages",
        ),
        (
            json!({"url": url, "events": ["created"], "colour": "red"}),
            "colour",
        ),
    ] {
        let answer = owner
            .post(app.url("/webhooks"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 422, "{body}");
        let error: serde_json::Value = answer.json().await.unwrap();
        assert!(error["fields"].get(field).is_some(), "{body}: {error}");
    }
    let answer = owner.patch(&path).json(&json!({})).send().await.unwrap();
    expect_error(answer, 422).await;

    // The owner changes it, and deletes it.
    let changed: serde_json::Value = owner
        .patch(&path)
        .json(&json!({"events": ["status_changed"], "packages": ["TRK0000000001"], "description": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["events"], json!(["status_changed"]));
    assert_eq!(changed["packages"], json!(["TRK0000000001"]));
    assert_eq!(changed["description"], serde_json::Value::Null);
    assert_eq!(
        owner.delete(&path).send().await.unwrap().status().as_u16(),
        204
    );
    assert_eq!(
        owner.get(&path).send().await.unwrap().status().as_u16(),
        404
    );
    app.shutdown().await;
}
