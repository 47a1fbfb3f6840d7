//! Geofences: zones drawn through the API and stored in MongoDB, and the
//! events the location pool derives from fixes: one enter and one exit
//! through border jitter, one dwell per stay, nothing from a late point or
//! a redelivered window, a crossing from a straddling move, a courier's
//! zones told to the packages aboard. Also who may draw zones, and the
//! answer to a bad one.

mod api;
mod couriers;
mod evaluation;
mod live;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use testkit::app::{TestApp, WAIT};
use testkit::eventually;

/// The zone tests' centre.
pub const LATITUDE: f64 = 52.0;
pub const LONGITUDE: f64 = 13.0;

/// The latitude `metres` north of the centre.
pub fn north(metres: f64) -> f64 {
    LATITUDE + (metres / 6_371_008.8_f64).to_degrees()
}

pub fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `seconds` after a start a few minutes ago.
pub fn second(start: DateTime<Utc>, seconds: i64) -> String {
    at(start + Duration::seconds(seconds))
}

/// Draws a circle of `radius_m` around the point `metres_north` of the
/// centre, as the admin; returns the zone.
pub async fn circle(
    app: &TestApp,
    name: &str,
    metres_north: f64,
    radius_m: f64,
    extra: Value,
) -> Value {
    let mut body = json!({
        "name": name,
        "circle": {"latitude": north(metres_north), "longitude": LONGITUDE, "radius_m": radius_m},
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = app.post_json("/geofences", &body).await;
    assert_eq!(response.status(), 201, "the zone is drawn");
    response.json().await.expect("the zone")
}

/// The package's notices, in seq order.
pub async fn notices(app: &TestApp, tn: &str) -> Vec<Value> {
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
                .is_some_and(|k| k.starts_with("geofence_"))
        })
        .collect()
}

/// Each notice as `kind zone_name`.
pub fn described(notices: &[Value]) -> Vec<String> {
    notices
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n["kind"].as_str().unwrap_or("?"),
                n["zone_name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// Waits until the package's notices read `expected`.
pub async fn notices_are(app: &TestApp, tn: &str, expected: &[&str]) -> Vec<Value> {
    eventually(
        WAIT,
        &format!("{tn}'s notices to be {expected:?}"),
        || async {
            let notices = notices(app, tn).await;
            (described(&notices) == expected).then_some(notices)
        },
    )
    .await
}
