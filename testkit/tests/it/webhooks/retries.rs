//! A receiver that fails three times and then answers 2xx gets the event
//! exactly once with a 2xx, after four attempts the log shows; a
//! redeliver sends the same bytes with the next attempt number.

use super::receiver::{Answer, Receiver};
use super::{deliveries, register, DELIVERY_WAIT};
use std::time::Duration;
use testkit::app::{package_body, tracking_number, Options, TestApp};

#[tokio::test]
async fn three_failures_then_a_success_make_four_attempts_and_one_delivery() {
    let app = TestApp::spawn_with(Options::default().with_webhooks(|_| {})).await;
    let receiver = Receiver::start(vec![
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(404),
    ])
    .await;
    let webhook = register(&app, &app.http, &receiver.url(), &["created"]).await;
    let id = webhook["id"].as_str().unwrap();
    let tn = tracking_number();
    app.post_json("/packages", &package_body(&tn)).await;

    let got = receiver.wait_for(4, DELIVERY_WAIT).await;
    // Nothing more comes once a 2xx was answered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_all = receiver.received();
    assert_eq!(got_all.len(), 4, "exactly four attempts");
    for (n, request) in got.iter().enumerate() {
        assert_eq!(
            request.body, got[0].body,
            "every attempt sends the same bytes"
        );
        assert_eq!(
            request.header("x-delivertrack-attempt"),
            (n + 1).to_string()
        );
    }
    let log = testkit::eventually(DELIVERY_WAIT, "a delivered log entry", || async {
        let log = deliveries(&app, &app.http, id).await;
        (log.len() == 1 && log[0]["state"] == "delivered").then_some(log)
    })
    .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(codes, [500, 503, 404, 200], "{log:?}");
    assert_eq!(attempts[0]["error"], "answered 500");
    assert_eq!(attempts[3]["error"], serde_json::Value::Null);
    assert_eq!(attempts[3]["response_head"], "answered 200");
    assert!(attempts.iter().all(|a| a["duration_ms"].as_i64().is_some()));
    assert_eq!(log[0]["type"], "created");
    assert_eq!(log[0]["tracking_number"], tn.as_str());
    // The endpoint is not failing any more.
    let read: serde_json::Value = app
        .get(&format!("/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["failing_since"], serde_json::Value::Null);

    // A redeliver: the same bytes, the fifth attempt, logged as such.
    let delivery_id = log[0]["id"].as_str().unwrap();
    let answer = app
        .http
        .post(app.url(&format!(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let got = receiver.wait_for(5, DELIVERY_WAIT).await;
    assert_eq!(got[4].body, got[0].body);
    assert_eq!(got[4].header("x-delivertrack-attempt"), "5");
    assert_eq!(
        got[4].header("x-delivertrack-event-id"),
        got[0].header("x-delivertrack-event-id")
    );
    let log = testkit::eventually(DELIVERY_WAIT, "the redelivery logged", || async {
        let log = deliveries(&app, &app.http, id).await;
        let attempts = log[0]["attempts"].as_array().cloned().unwrap_or_default();
        (attempts.len() == 5 && attempts[4]["status_code"] == 200).then_some(attempts)
    })
    .await;
    assert_eq!(log[4]["redelivery"], true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.received().len(),
        5,
        "a redeliver is one more request, no retries"
    );

    // Someone else's delivery cannot be redelivered through this endpoint.
    let other = uuid::Uuid::new_v4();
    let answer = app
        .http
        .post(app.url(&format!("/webhooks/{id}/deliveries/{other}/redeliver")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    app.shutdown().await;
}
