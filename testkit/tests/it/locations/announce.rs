//! Live watchers do not wait on the location history: a window's points are
//! announced as soon as PostgreSQL has numbered them, even while MongoDB
//! cannot take them, and stored once it can.

use mongodb::bson::{doc, Document};
use shared::wire::{Envelope, Event, LocationBatch, LocationsRecorded, PackageEvent};
use std::time::Duration;
use testkit::app::Workers;
use testkit::proxy::Proxy;
use testkit::{eventually, TestEnv};
use uuid::Uuid;

async fn insert_package(env: &TestEnv, tn: &str) {
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, \
         recipient_address, created_at, updated_at) VALUES ($1, $2, 'A', 'B', 'C', 'D', now(), now())",
    )
    .bind(Uuid::new_v4())
    .bind(tn)
    .execute(&env.pool)
    .await
    .expect("insert a package");
}

async fn post(env: &TestEnv, point: &shared::wire::LocationPoint) {
    let batch = Envelope::new(
        Uuid::now_v7(),
        chrono::Utc::now(),
        testkit::dispatcher(),
        LocationBatch::new(vec![point.clone()]),
    );
    env.publish_locations(&batch).await;
}

/// The announcement of `point_id`, if it comes within `within`.
async fn announced(
    env: &TestEnv,
    tap: &mut lapin::Consumer,
    point_id: Uuid,
    within: Duration,
) -> Option<LocationsRecorded> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = env.next_event(tap, left).await?;
        if let Event::Package(PackageEvent::LocationsRecorded(recorded)) = event.body {
            if recorded.points.iter().any(|p| p.point_id == point_id) {
                return Some(recorded);
            }
        }
    }
}

async fn stored(env: &TestEnv, point_id: Uuid) -> u64 {
    env.mongo()
        .await
        .collection::<Document>("location_history")
        .count_documents(doc! { "_id": point_id.to_string() })
        .await
        .expect("count the history")
}

/// A location worker started with `adjust` made to its settings, watched
/// through a tap, and the first point of `tn` (a package it knows) seen
/// announced: the worker is up and connected.
async fn started(
    env: &TestEnv,
    tn: &str,
    adjust: impl FnOnce(&mut workers::WorkerConfig),
) -> (Workers, lapin::Consumer, shared::wire::LocationPoint) {
    insert_package(env, tn).await;
    let mut config = workers::WorkerConfig {
        run_packages: false,
        ..testkit::app::worker_config(env)
    };
    adjust(&mut config);
    let mut tap = env.event_tap().await;
    let worker = Workers::spawn(config);
    let first = testkit::location_point(tn);
    post(env, &first).await;
    announced(env, &mut tap, first.point_id, Duration::from_secs(20))
        .await
        .expect("the first point announced");
    (worker, tap, first)
}

#[tokio::test]
async fn points_are_announced_while_the_history_store_is_unreachable_and_stored_once_it_is_back() {
    let env = TestEnv::new().await;
    let mongo = Proxy::start(&testkit::host_port(&env.config.mongodb_url)).await;
    let tn = "TRKANNOUNCE1";
    // A first point, with MongoDB there: announced and stored.
    let (worker, mut tap, first) = started(&env, tn, |config| {
        config.common.mongodb_url = testkit::with_host(&config.common.mongodb_url, mongo.addr)
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "the first point stored",
        || async { (stored(&env, first.point_id).await == 1).then_some(()) },
    )
    .await;

    // MongoDB gone: the next point is still announced, numbered next.
    mongo.cut();
    let second = testkit::location_point(tn);
    post(&env, &second).await;
    let recorded = announced(&env, &mut tap, second.point_id, Duration::from_secs(10))
        .await
        .expect("the point announced while the history cannot be written");
    let seqs: Vec<i64> = recorded.points.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![2], "numbered after the first point");
    assert_eq!(stored(&env, second.point_id).await, 0, "not stored yet");

    // MongoDB back: the point is stored and its message acked; announced once.
    mongo.restore();
    eventually(
        Duration::from_secs(90),
        "the second point stored",
        || async { (stored(&env, second.point_id).await == 1).then_some(()) },
    )
    .await;
    worker.stop().await;
    assert!(
        announced(&env, &mut tap, second.point_id, Duration::from_secs(1))
            .await
            .is_none(),
        "a window waiting on MongoDB announces its points once"
    );
}

/// The announcement is the first thing a window publishes: a publishing
/// connection found gone there must reconnect the pool (the window is
/// redelivered and announced then), never end it as if it were shut down.
#[tokio::test]
async fn a_publishing_connection_found_gone_by_an_announcement_reconnects_the_pool() {
    let env = TestEnv::new().await;
    let broker = Proxy::start(&testkit::host_port(env.config.brokers.first())).await;
    let through_proxy = testkit::with_host(env.config.brokers.first(), broker.addr);
    let (worker, mut tap, _) = started(&env, "TRKANNOUNCE2", |config| {
        config.common.brokers = shared::brokers::Brokers::new(vec![through_proxy])
    })
    .await;

    // The worker connects to consume, then to publish: only the second goes.
    assert_eq!(
        broker.accepted(),
        2,
        "a consuming and a publishing connection"
    );
    broker.cut_connection(1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = testkit::location_point("TRKANNOUNCE2");
    post(&env, &second).await;
    announced(&env, &mut tap, second.point_id, Duration::from_secs(30))
        .await
        .expect("the point announced after the pool reconnected");
    assert!(
        broker.accepted() >= 4,
        "the pool reconnected both connections"
    );
    worker.stop().await;
}
