//! What one courier point costs, read off the wire: the same stored writes
//! for a courier with 1 package aboard as for one with 200 (one upsert of
//! the courier's row, one history insert, one audit row per window), none
//! per package.

use futures_util::StreamExt;
use serde_json::json;
use shared::auth::Caller;
use std::collections::BTreeMap;
use testkit::app::{tracking_number, Options, TestApp, Workers, WAIT};
use testkit::eventually;
use testkit::wire_count::CountingProxy;

/// Writes by kind: PostgreSQL statements that write (the courier's upsert
/// is a `WITH`), MongoDB commands that write.
fn writes(postgres: &CountingProxy, mongo: &CountingProxy) -> BTreeMap<&'static str, u64> {
    let mut counts = BTreeMap::new();
    for name in ["INSERT", "UPDATE", "DELETE", "WITH"] {
        counts.insert(name, postgres.counts.get(name));
    }
    for name in ["insert", "update", "delete"] {
        counts.insert(name, mongo.counts.get(name));
    }
    counts
}

/// Creates `count` packages in transit on one run of `courier`.
async fn run_of(app: &TestApp, courier: &Caller, count: usize) {
    let numbers: Vec<String> = (0..count).map(|_| tracking_number()).collect();
    futures_util::stream::iter(&numbers)
        .for_each_concurrent(16, |tn| async move {
            app.created(tn).await;
            app.status_changed(tn, json!({"status": "in_transit"}))
                .await;
        })
        .await;
    let stops: Vec<&str> = numbers.iter().map(String::as_str).collect();
    app.deliver(courier, &stops).await;
}

/// Posts one point and waits until it is the courier's stored position.
async fn point_applied(app: &TestApp, courier: &Caller, latitude: f64) {
    let accepted: serde_json::Value = app
        .client_as(courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": latitude, "longitude": 30.0}))
        .send()
        .await
        .expect("POST /me/location")
        .json()
        .await
        .expect("the ids");
    let id: uuid::Uuid = accepted["event_ids"][0]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id");
    eventually(WAIT, "the point applied", || async {
        let stored: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT point_id FROM courier_positions WHERE courier_id = $1")
                .bind(courier.user_id)
                .fetch_optional(&app.env.pool)
                .await
                .ok()?;
        (stored == Some(id)).then_some(())
    })
    .await;
}

/// The writes of `points` points, one window each, after a first point.
async fn cost_of_points(
    app: &TestApp,
    courier: &Caller,
    (postgres, mongo): (&CountingProxy, &CountingProxy),
    points: usize,
) -> BTreeMap<&'static str, u64> {
    point_applied(app, courier, 1.0).await;
    let before = writes(postgres, mongo);
    for i in 0..points {
        point_applied(app, courier, 2.0 + i as f64).await;
    }
    let after = writes(postgres, mongo);
    after
        .iter()
        .map(|(name, count)| (*name, count - before[name]))
        .collect()
}

#[tokio::test]
async fn a_courier_point_costs_the_same_writes_with_1_package_aboard_as_with_200() {
    const POINTS: usize = 5;
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let packages = Workers::spawn(workers::WorkerConfig {
        run_locations: false,
        ..testkit::app::worker_config(&app.env)
    });
    let mongo = CountingProxy::mongo(&testkit::host_port(&app.env.config.mongodb_url)).await;
    let postgres = CountingProxy::postgres(&testkit::host_port(&app.env.config.database_url)).await;
    let mut counted = workers::WorkerConfig {
        run_packages: false,
        run_mail: false,
        ..testkit::app::worker_config(&app.env)
    };
    counted.common.mongodb_url = testkit::with_host(&counted.common.mongodb_url, mongo.addr);
    counted.common.database_url = testkit::with_host(&counted.common.database_url, postgres.addr);
    let locations = Workers::spawn(counted);
    let (one, many) = (app.courier().await, app.courier().await);
    run_of(&app, &one, 1).await;
    run_of(&app, &many, 200).await;

    let proxies = (&postgres, &mongo);
    let with_one = cost_of_points(&app, &one, proxies, POINTS).await;
    let with_many = cost_of_points(&app, &many, proxies, POINTS).await;
    assert_eq!(with_one, with_many, "1 package aboard vs 200");
    let points = POINTS as u64;
    assert_eq!(
        with_many["WITH"], points,
        "one courier upsert per point: {with_many:?}"
    );
    assert_eq!(
        with_many["insert"], points,
        "one history insert per point: {with_many:?}"
    );
    assert_eq!(
        with_many["INSERT"], points,
        "one audit row per point: {with_many:?}"
    );
    assert_eq!(
        with_many["UPDATE"] + with_many["update"],
        0,
        "{with_many:?}"
    );
    // And the 200 did move: one of them reads at the last point.
    let aboard: Vec<String> =
        sqlx::query_scalar("SELECT p.tracking_number FROM packages p WHERE p.carrier_id = $1")
            .bind(many.user_id)
            .fetch_all(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(aboard.len(), 200);
    let read: serde_json::Value = app
        .get(&format!("/packages/{}", aboard[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["latitude"], json!(2.0 + (POINTS - 1) as f64));
    locations.stop().await;
    packages.stop().await;
    app.shutdown().await;
}
