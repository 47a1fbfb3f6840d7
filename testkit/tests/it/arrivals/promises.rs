//! Promises: a run late for its promise warns once; a promise that passes
//! undelivered is announced late once, and again only for a new promise.

use super::{arrival_notices, create_going, drive, eta_at, kinds, on_a_run};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;
use testkit::app::{package_body, tracking_number, TestApp, WAIT};
use testkit::eventually;

fn in_seconds(seconds: i64) -> String {
    (Utc::now() + Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn a_late_run_raises_delivery_at_risk_once() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    let promised_by = in_seconds(180);
    create_going(&app, &tn, 5_000.0, json!({"promised_by": promised_by})).await;
    let courier = on_a_run(&app, &[&tn]).await;
    let now = Utc::now();
    // Standing still: each estimate later than the one before.
    for ago in [300, 150, 0] {
        drive(&app, &courier, now - Duration::seconds(ago), &[(0, 0.0)]).await;
    }
    // 5 km at a pace worn down to 2.3 m/s by five minutes standing.
    let notices = eventually(WAIT, "the last estimate", || async {
        let notices = arrival_notices(&app, &tn).await;
        let latest = notices.iter().rev().find(|n| n["kind"] == "eta_changed")?;
        (eta_at(&latest["eta"]) > now + Duration::seconds(2_400)).then_some(notices)
    })
    .await;
    let kinds = kinds(&notices);
    assert_eq!(
        kinds.iter().filter(|k| **k == "delivery_at_risk").count(),
        1,
        "one warning for the episode: {kinds:?}"
    );
    assert!(kinds.iter().filter(|k| **k == "eta_changed").count() >= 2);
    let warning = notices
        .iter()
        .find(|n| n["kind"] == "delivery_at_risk")
        .unwrap();
    let promised: DateTime<Utc> = promised_by.parse().unwrap();
    assert_eq!(
        warning["promised_by"]
            .as_str()
            .map(|p| p.parse::<DateTime<Utc>>().unwrap()),
        Some(promised)
    );
    assert!(eta_at(&warning["eta"]) > promised);
}

#[tokio::test]
async fn a_promise_passed_undelivered_is_late_once_per_promise() {
    let app = TestApp::spawn().await;
    let (late, kept, marker) = (tracking_number(), tracking_number(), tracking_number());
    let mut body = package_body(&late);
    body["promised_by"] = json!(in_seconds(2));
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);
    // Delivered before its promise passes: settled without a word.
    app.created(&kept).await;
    for status in ["in_transit", "out_for_delivery", "delivered"] {
        app.status_changed(&kept, json!({ "status": status })).await;
    }
    let patched = app
        .http
        .patch(app.url(&format!("/packages/{kept}")))
        .json(&json!({"promised_by": in_seconds(3)}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let mut body = package_body(&marker);
    body["promised_by"] = json!(in_seconds(5));
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);

    // The sweep settles promises oldest first: once the marker's is
    // announced, the others were settled.
    eventually(WAIT, "the marker to be late", || async {
        (kinds(&arrival_notices(&app, &marker).await) == ["delivery_late"]).then_some(())
    })
    .await;
    assert_eq!(
        kinds(&arrival_notices(&app, &late).await),
        ["delivery_late"]
    );
    assert!(
        arrival_notices(&app, &kept).await.is_empty(),
        "a kept promise is not late"
    );

    // A new promise is a new episode.
    let patched = app
        .http
        .patch(app.url(&format!("/packages/{late}")))
        .json(&json!({"promised_by": in_seconds(2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    eventually(WAIT, "the new promise to be late too", || async {
        (arrival_notices(&app, &late).await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        kinds(&arrival_notices(&app, &late).await),
        ["delivery_late", "delivery_late"]
    );
}
