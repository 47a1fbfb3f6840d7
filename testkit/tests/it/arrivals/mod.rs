//! Arrival estimates and promises: a package's destination and promise
//! (set at create, changed by PATCH), the estimate of each stop of a
//! courier's run moving as the courier moves and completes stops, an
//! `eta_changed` only when the estimate moves by more than a minute,
//! `delivery_at_risk` once per late episode, and `delivery_late` once per
//! promise that passed undelivered.

mod estimates;
mod plan;
mod promises;
mod recipient_mail;
mod routing;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use testkit::app::{package_body, TestApp};

pub const LATITUDE: f64 = 52.0;
pub const LONGITUDE: f64 = 13.0;

/// The latitude `metres` north of the tests' centre.
pub fn north(metres: f64) -> f64 {
    LATITUDE + (metres / 6_371_008.8_f64).to_degrees()
}

pub fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Creates a package going `metres` north of the centre, with `extra`
/// fields; returns the package.
pub async fn create_going(app: &TestApp, tn: &str, metres: f64, extra: Value) -> Value {
    let mut body = package_body(tn);
    body["destination"] = json!({"latitude": north(metres), "longitude": LONGITUDE});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app.post_json("/packages", &body).await;
    assert_eq!(response.status(), 201, "create {tn}");
    response.json().await.expect("the package")
}

/// Takes packages out for delivery on one run of a new courier, in order.
pub async fn on_a_run(app: &TestApp, stops: &[&str]) -> shared::auth::Caller {
    for tn in stops {
        app.status_changed(tn, json!({"status": "in_transit"}))
            .await;
        app.status_changed(tn, json!({"status": "out_for_delivery"}))
            .await;
    }
    let courier = app.courier().await;
    app.deliver(&courier, stops).await;
    courier
}

/// Posts the courier's fixes, each `(seconds after start, metres north)`.
pub async fn drive(
    app: &TestApp,
    courier: &shared::auth::Caller,
    start: DateTime<Utc>,
    fixes: &[(i64, f64)],
) {
    let fixes: Vec<Value> = fixes
        .iter()
        .map(|(s, m)| {
            json!({"latitude": north(*m), "longitude": LONGITUDE,
                "recorded_at": at(start + Duration::seconds(*s)), "accuracy_m": 5.0})
        })
        .collect();
    let posted = app
        .client_as(courier)
        .post(app.url("/me/locations"))
        .json(&fixes)
        .send()
        .await
        .expect("post fixes");
    assert_eq!(posted.status(), 202, "the fixes are accepted");
}

/// The package's arrival notices (`eta_changed`, `delivery_*`), in order.
pub async fn arrival_notices(app: &TestApp, tn: &str) -> Vec<Value> {
    let events: Vec<Value> = app
        .get(&format!("/packages/{tn}/events?include=notices"))
        .await
        .json()
        .await
        .expect("the events");
    events
        .into_iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("eta_") || k.starts_with("delivery_"))
        })
        .collect()
}

pub fn kinds(notices: &[Value]) -> Vec<&str> {
    notices.iter().filter_map(|n| n["kind"].as_str()).collect()
}

/// The package as its staff read shows it.
pub async fn package(app: &TestApp, tn: &str) -> Value {
    app.get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .expect("the package")
}

/// An estimate's time.
pub fn eta_at(eta: &Value) -> DateTime<Utc> {
    eta["at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("an estimate with a time: {eta}"))
}
