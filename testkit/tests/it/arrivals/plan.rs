//! A package's plan through the API: destination and promise at create,
//! changed or cleared by admins and dispatchers only, refused clearly.

use super::{north, package, LONGITUDE};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use shared::auth::Role;
use testkit::app::{customer_package_body, expect_error, package_body, tracking_number, TestApp};

#[tokio::test]
async fn a_plan_is_set_at_create_changed_by_staff_and_refused_when_bad() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    let promise = (Utc::now() + Duration::hours(4)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut body = package_body(&tn);
    body["destination"] = json!({"latitude": north(1_000.0), "longitude": LONGITUDE});
    body["promised_by"] = json!(promise);
    let created = app.post_json("/packages", &body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["destination"]["longitude"], LONGITUDE);
    assert_eq!(created["promised_by"], promise);
    assert_eq!(
        created["eta"],
        Value::Null,
        "no estimate before it is on a run"
    );

    let patch = |body: Value, client: reqwest::Client| {
        let url = app.url(&format!("/packages/{tn}"));
        async move { client.patch(url).json(&body).send().await.unwrap() }
    };
    let changed = patch(
        json!({"destination": {"latitude": 48.85, "longitude": 2.35}}),
        app.http.clone(),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        changed["destination"],
        json!({"latitude": 48.85, "longitude": 2.35})
    );
    assert_eq!(changed["promised_by"], promise, "a field left out stays");
    let read = package(&app, &tn).await;
    assert_eq!(read["destination"], changed["destination"]);
    assert_eq!(read["version"], changed["version"]);

    // The same request again (a retry with its Idempotency-Key) is
    // answered as before, not applied twice; another body under the key is
    // refused.
    let keyed = |body: Value| {
        let url = app.url(&format!("/packages/{tn}"));
        let client = app.http.clone();
        async move {
            client
                .patch(url)
                .header("idempotency-key", "plan-change-1")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let once: Value = keyed(json!({"promised_by": null}))
        .await
        .json()
        .await
        .unwrap();
    let twice: Value = keyed(json!({"promised_by": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(once, twice);
    assert_eq!(once["version"], read["version"].as_i64().unwrap() + 1);
    expect_error(keyed(json!({"destination": null})).await, 422).await;
    let read = package(&app, &tn).await;
    assert_eq!(read["version"], once["version"], "applied once");
    for bad in [
        json!({}),
        json!({"destination": {"latitude": 91.0, "longitude": 0.0}}),
        json!({"promised_by": "2001-01-01T00:00:00Z"}),
        json!({"promised_by": "soon"}),
        json!({"recipient_name": "Mallory"}),
    ] {
        let refused = patch(bad.clone(), app.http.clone()).await;
        expect_error(refused, 422).await;
    }
    // Customers (even the sender) and couriers do not change a plan.
    let customer = app.caller(Role::Customer).await;
    let own_tn = app
        .create_as_customer(&app.client_as(&customer), customer_package_body())
        .await;
    let refused = app
        .client_as(&customer)
        .patch(app.url(&format!("/packages/{own_tn}")))
        .json(&json!({"promised_by": null}))
        .send()
        .await
        .unwrap();
    expect_error(refused, 403).await;
    let courier = app.courier().await;
    let refused = patch(json!({"promised_by": null}), app.client_as(&courier)).await;
    expect_error(refused, 403).await;
    let unknown = app
        .http
        .patch(app.url("/packages/NOSUCHPKG1"))
        .json(&json!({"promised_by": null}))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404).await;
    let unchanged = package(&app, &tn).await;
    assert_eq!(
        unchanged["version"], read["version"],
        "nothing refused was applied"
    );

    let cleared = patch(
        json!({"destination": null, "promised_by": null}),
        app.http.clone(),
    )
    .await;
    assert_eq!(cleared.status(), 200);
    let read = package(&app, &tn).await;
    assert_eq!(
        (read["destination"].clone(), read["promised_by"].clone()),
        (Value::Null, Value::Null)
    );

    let mut bad_create = package_body(&tracking_number());
    bad_create["destination"] = json!({"latitude": 52.0});
    expect_error(app.post_json("/packages", &bad_create).await, 422).await;
}
