//! `kill -9` of the webhook pool in the middle of a delivery loses no
//! event: the next worker makes the next attempt once the dead one's lease
//! ran out; and nothing is sent again after the 2xx.

use super::receiver::{Answer, Receiver};
use super::{deliveries, register, DELIVERY_WAIT};
use std::process::{Child, Command};
use std::time::Duration;
use testkit::app::{package_body, tracking_number, Options, TestApp};
use testkit::KillOnDrop;

fn webhook_pool(app: &TestApp) -> (Child, KillOnDrop) {
    let child = Command::new(testkit::bins::path("workers"))
        .envs(app.env.service_env())
        .env("WORKER_POOLS", "webhooks")
        .env("WEBHOOK_TIMEOUT_MS", "4000")
        .env("WEBHOOK_RETRY_FIRST_MS", "200")
        .spawn()
        .expect("spawn the webhook pool");
    let guard = KillOnDrop(child.id());
    (child, guard)
}

#[tokio::test]
async fn a_webhook_pool_killed_mid_delivery_loses_nothing_and_sends_nothing_twice() {
    // The other pools run in-process; the webhook pool is the binary.
    let app = TestApp::spawn_with(Options::default()).await;
    let receiver = Receiver::start(vec![Answer::Hold]).await;
    let webhook = register(&app, &app.http, &receiver.url(), &["created"]).await;
    let id = webhook["id"].as_str().unwrap();
    let (mut first, _first_guard) = webhook_pool(&app);
    app.post_json("/packages", &package_body(&tracking_number()))
        .await;

    // The first attempt is under way (the receiver holds it): kill -9.
    let held = receiver.wait_for(1, DELIVERY_WAIT).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("the killed pool is reaped");
    let (mut second, _second_guard) = webhook_pool(&app);

    let got = receiver.wait_for(2, Duration::from_secs(40)).await;
    assert_eq!(got[1].body, held[0].body, "the same event");
    assert_eq!(got[1].header("x-delivertrack-attempt"), "2");
    let log = testkit::eventually(
        DELIVERY_WAIT,
        "the delivery logged as delivered",
        || async {
            let log = deliveries(&app, &app.http, id).await;
            (log.first()?["state"] == "delivered").then_some(log)
        },
    )
    .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{log:?}");
    assert!(
        attempts[0]["status_code"].is_null(),
        "the killed attempt has no answer"
    );
    assert_eq!(attempts[1]["status_code"], 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 2, "nothing after the 2xx");
    let _ = second.kill();
    let _ = second.wait();
    app.shutdown().await;
}
