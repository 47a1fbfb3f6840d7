//! A run's estimates move as its courier moves and completes stops, and
//! are announced only when they move by more than a minute.

use super::{arrival_notices, create_going, drive, eta_at, kinds, on_a_run, package};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::eventually;

#[tokio::test]
async fn estimates_follow_the_courier_and_are_announced_only_when_they_move_a_minute() {
    let app = TestApp::spawn().await;
    let (first, second) = (tracking_number(), tracking_number());
    create_going(&app, &first, 1_500.0, json!({})).await;
    create_going(&app, &second, 3_000.0, json!({})).await;
    let courier = on_a_run(&app, &[&first, &second]).await;
    let start = Utc::now() - Duration::minutes(20);

    drive(&app, &courier, start, &[(0, 0.0)]).await;
    let announced = eventually(WAIT, "both stops to get an estimate", || async {
        let a = arrival_notices(&app, &first).await;
        let b = arrival_notices(&app, &second).await;
        (a.len() == 1 && b.len() == 1).then_some((a, b))
    })
    .await;
    let first_eta = eta_at(&announced.0[0]["eta"]);
    let second_eta = eta_at(&announced.1[0]["eta"]);
    assert!(
        second_eta > first_eta,
        "the second stop comes after the first"
    );
    // 1,500 m at the default 8 m/s and road factor 1.3.
    let expected = start + Duration::seconds(244);
    assert!(
        (first_eta - expected).num_seconds().abs() <= 2,
        "{first_eta} vs {expected}"
    );
    let read = package(&app, &first).await;
    assert_eq!(
        read["eta"], announced.0[0]["eta"],
        "the package shows the estimate announced"
    );
    let public: Value = app
        .get(&format!("/track/{first}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        public["eta"], read["eta"],
        "so does the public tracking page"
    );

    // Steady driving: every estimate within a minute of the announced one.
    for step in 1..=12 {
        drive(&app, &courier, start, &[(step * 10, step as f64 * 80.0)]).await;
    }
    // Then stuck in traffic for eight minutes: the estimate slips.
    drive(&app, &courier, start, &[(600, 960.0)]).await;
    let slipped = eventually(WAIT, "the slipped estimate to be announced", || async {
        let notices = arrival_notices(&app, &first).await;
        (notices.len() >= 2).then_some(notices)
    })
    .await;
    assert_eq!(
        kinds(&slipped),
        ["eta_changed", "eta_changed"],
        "small moves are not announced"
    );
    assert!(eta_at(&slipped[1]["eta"]) > first_eta + Duration::minutes(1));
    assert_eq!(slipped[1]["previous"], announced.0[0]["eta"]);

    // On to the first stop, delivered there, and off again.
    let to_stop: Vec<(i64, f64)> = (1..=6)
        .map(|i| (600 + i * 10, 960.0 + i as f64 * 90.0))
        .collect();
    drive(&app, &courier, start, &to_stop).await;
    let before = eventually(
        WAIT,
        "the second stop's estimate after the slip",
        || async {
            let notices = arrival_notices(&app, &second).await;
            let latest = notices.last().filter(|_| notices.len() >= 2)?;
            Some(eta_at(&latest["eta"]))
        },
    )
    .await;
    app.status_changed(&first, json!({"status": "delivered"}))
        .await;
    drive(&app, &courier, start, &[(700, 1_600.0)]).await;
    let after = eventually(
        WAIT,
        "the second stop's estimate to come forward",
        || async {
            let notices = arrival_notices(&app, &second).await;
            let latest = eta_at(&notices.last()?["eta"]);
            (latest < before).then_some(latest)
        },
    )
    .await;
    assert!(after > start + Duration::seconds(700));
    let delivered = package(&app, &first).await;
    assert_eq!(
        delivered["eta"],
        Value::Null,
        "a delivered package has no estimate"
    );
    let second_read = package(&app, &second).await;
    assert_eq!(eta_at(&second_read["eta"]), after);
}
