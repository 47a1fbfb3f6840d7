//! Who may watch what over the WebSocket, and how a change of rights
//! reaches an open connection.

use serde_json::json;
use shared::auth::token::now;
use shared::auth::{Caller, Role};
use std::time::Duration;
use testkit::app::{customer_package_body, tracking_number, TestApp};
use testkit::ws::{self, close_frame, next_json, send, subscribe};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn websocket_watchers_need_a_token_and_see_only_what_the_policy_allows() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let customer = app.caller(Role::Customer).await;
    let own = app
        .create_as_customer(&app.client_as(&customer), customer_package_body())
        .await;
    let others = tracking_number();
    app.created(&others).await;

    let refused = tokio_tungstenite::connect_async(&broadcaster.base_url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("an upgrade without a token must be refused with 401: {other:?}"),
    }
    let expired = app
        .env
        .tokens()
        .issue_at(&customer, now() - 7200, Duration::from_secs(3600))
        .unwrap()
        .token;
    let refused = tokio_tungstenite::connect_async(
        ws::Endpoint::new(&broadcaster.base_url, &expired).request(),
    )
    .await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );

    // A token in the Authorization header, as non-browser clients send it.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            broadcaster.base_url.as_str(),
        )
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.env.token(&customer))
            .parse()
            .unwrap(),
    );
    let (mut client, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": others}),
    )
    .await;
    let hidden = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    let nowhere = tracking_number();
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": nowhere}),
    )
    .await;
    let unknown = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hidden["type"], "error");
    assert_eq!(hidden["error"], format!("package {others} not found"));
    assert_eq!(
        unknown["error"],
        format!("package {nowhere} not found"),
        "the same words"
    );
    subscribe(&mut client, &own).await;
    app.status_changed(&own, json!({"status": "in_transit"}))
        .await;
    let update = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update["tracking_number"], own.as_str());
    assert_eq!(update["data"]["status"], "in_transit");

    // A token about to expire: the connection closes with 1008 when it does.
    let short = app
        .env
        .tokens()
        .issue_at(&customer, now(), Duration::from_secs(2))
        .unwrap()
        .token;
    let (mut expiring, _) = tokio_tungstenite::connect_async(
        ws::Endpoint::new(&broadcaster.base_url, &short).request(),
    )
    .await
    .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), close_frame(&mut expiring))
        .await
        .expect("closed when the token expires")
        .expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(frame.reason.contains("expired"), "{}", frame.reason);
    app.shutdown().await;
}

#[tokio::test]
async fn a_courier_taken_off_a_run_stops_receiving_its_packages_updates() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (carl, dana) = (app.courier().await, app.courier().await);
    let tn = tracking_number();
    app.created(&tn).await;
    let run = app.deliver(&carl, &[&tn]).await;
    let run_id = run["id"].as_str().expect("the run's id").to_owned();
    let watch_as =
        |caller: &Caller| ws::Endpoint::new(&broadcaster.base_url, &app.env.token(caller));
    let mut carls = testkit::ws::connect(&watch_as(&carl)).await;
    subscribe(&mut carls, &tn).await;
    let mut admins = testkit::ws::connect(&broadcaster.url).await;
    subscribe(&mut admins, &tn).await;

    let reassigned = app
        .client_as(&app.admin)
        .patch(app.url(&format!("/deliveries/{run_id}")))
        .json(&json!({"courier_id": dana.user_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(reassigned.status(), 200);
    let told = next_json(&mut carls, Duration::from_secs(10))
        .await
        .expect("the courier is told");
    assert_eq!(
        told,
        json!({"type": "unsubscribed", "tracking_number": tn, "reason": "access revoked"})
    );

    // The package moves on: whoever may still watch it hears so, Carl not.
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await;
    let heard = next_json(&mut admins, Duration::from_secs(10))
        .await
        .expect("the admin hears the change");
    assert_eq!(heard["data"]["status"], "in_transit", "{heard}");
    let carl_heard = next_json(&mut carls, Duration::from_millis(500)).await;
    assert_eq!(carl_heard, None, "Carl hears nothing more: {carl_heard:?}");
    app.shutdown().await;
}
