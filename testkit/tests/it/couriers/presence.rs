//! Presence: a courier's device goes `stale` and then `offline` at the
//! thresholds when it stops reporting, and is `online` again with its next
//! report; each change is one event on the dispatch feed (`courier.<id>.presence`)
//! and the couriers read agrees.

use futures_util::StreamExt;
use serde_json::json;
use shared::auth::Caller;
use shared::couriers::{CourierEvent, Presence, PresenceRules};
use std::time::Duration;
use testkit::app::{Options, TestApp, Workers, WAIT};
use testkit::eventually;

const RULES: PresenceRules = PresenceRules {
    stale_after: Duration::from_secs(2),
    offline_after: Duration::from_secs(4),
};

async fn report(app: &TestApp, courier: &Caller) {
    let response = app
        .client_as(courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": 1.0, "longitude": 2.0, "battery_pct": 64}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

async fn presence_read(app: &TestApp, courier: &Caller, wanted: &str) {
    eventually(WAIT, &format!("reads {wanted}"), || async {
        let read: serde_json::Value = app
            .get(&format!("/couriers/{}", courier.user_id))
            .await
            .json()
            .await
            .ok()?;
        (read["presence"] == json!(wanted)).then_some(())
    })
    .await;
}

/// The next presence event of `courier` on the tap, with how long the
/// device had been quiet when it was announced.
async fn next_presence(
    app: &TestApp,
    tap: &mut lapin::Consumer,
    courier: &Caller,
) -> (Presence, chrono::Duration) {
    let key = format!("courier.{}.presence", courier.user_id);
    loop {
        let delivery = tokio::time::timeout(WAIT, tap.next())
            .await
            .expect("a presence event in time")
            .expect("the tap is open")
            .expect("a delivery");
        if delivery.routing_key.as_str() != key {
            continue;
        }
        let envelope = app.env.open::<CourierEvent>(&delivery.data);
        if let CourierEvent::PresenceChanged {
            presence, heard_at, ..
        } = envelope.body
        {
            return (presence, envelope.occurred_at - heard_at);
        }
    }
}

#[tokio::test]
async fn presence_goes_stale_and_offline_at_the_thresholds_and_back_online_on_the_next_fix() {
    let app = TestApp::spawn_with(Options::without_workers().ingest(|c| c.presence = RULES)).await;
    let workers = Workers::spawn(workers::WorkerConfig {
        presence: RULES,
        ..testkit::app::worker_config(&app.env)
    });
    let mut tap = app.env.event_tap().await;
    let courier = app.courier().await;
    report(&app, &courier).await;
    assert_eq!(
        next_presence(&app, &mut tap, &courier).await.0,
        Presence::Online
    );
    presence_read(&app, &courier, "online").await;
    // Another fix while online is no news: the next event is going stale.
    report(&app, &courier).await;

    let (stale, quiet) = next_presence(&app, &mut tap, &courier).await;
    assert_eq!(stale, Presence::Stale);
    assert!(
        quiet >= chrono::Duration::seconds(2),
        "not before the threshold: {quiet}"
    );
    presence_read(&app, &courier, "stale").await;
    let (offline, quiet) = next_presence(&app, &mut tap, &courier).await;
    assert_eq!(offline, Presence::Offline);
    assert!(
        quiet >= chrono::Duration::seconds(4),
        "not before the threshold: {quiet}"
    );
    presence_read(&app, &courier, "offline").await;

    report(&app, &courier).await;
    assert_eq!(
        next_presence(&app, &mut tap, &courier).await.0,
        Presence::Online
    );
    presence_read(&app, &courier, "online").await;
    workers.stop().await;
    app.shutdown().await;
}
