//! Webhooks against real receivers: signatures a receiver verifies (also
//! with the README's Python and Node.js recipes), retries through the
//! broker's delay lines with every attempt logged, redelivery of the same
//! bytes, addresses refused at registration and at delivery (a real DNS
//! server changes its answer), who gets which events (couriers' to staff
//! only), and a webhook pool killed mid-delivery.

mod access;
mod addresses;
mod couriers;
mod crash;
mod disable;
mod dns;
mod misbehaving;
mod receiver;
mod retries;
mod signing;

use serde_json::{json, Value};
use std::time::Duration;
use testkit::app::TestApp;

/// How long a test waits for a delivery.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// Registers an endpoint for `events` at `url` as `client`; the answer.
pub async fn register(
    app: &TestApp,
    client: &reqwest::Client,
    url: &str,
    events: &[&str],
) -> Value {
    let response = client
        .post(app.url("/webhooks"))
        .json(&json!({"url": url, "events": events, "description": "tests"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

/// An endpoint's delivery log, as `client` reads it.
pub async fn deliveries(app: &TestApp, client: &reqwest::Client, webhook_id: &str) -> Vec<Value> {
    let response = client
        .get(app.url(&format!("/webhooks/{webhook_id}/deliveries")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let log: Value = response.json().await.unwrap();
    log.as_array().unwrap().clone()
}
