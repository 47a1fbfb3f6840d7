//! The location pool's ordering and duplicate property: however points arrive
//! (shuffled, split differently, some twice) and however many workers take
//! them, the history holds each point once and the latest position is the
//! newest by `recorded_at`.

use chrono::{Duration as Span, SubsecRound, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use shared::domain::{Coordinates, TrackingNumber};
use shared::wire::{Envelope, LocationBatch, LocationPoint};
use std::time::Duration;
use testkit::app::Workers;
use testkit::wire_count::CountingProxy;
use testkit::{eventually, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

fn spawn_location_worker(env: &TestEnv) -> Workers {
    Workers::spawn(workers::WorkerConfig {
        location_prefetch: 8,
        run_packages: false,
        ..testkit::app::worker_config(env)
    })
}

async fn insert_package(env: &TestEnv, tn: &str) {
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, recipient_address, \
         created_at, updated_at) VALUES ($1, $2, 'A', 'B', 'C', 'D', now(), now())",
    )
    .bind(Uuid::new_v4())
    .bind(tn)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// A small deterministic shuffle (no randomness crate needed for tests).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

#[tokio::test]
async fn any_order_any_duplicates_two_workers_same_result() {
    let env = TestEnv::new().await;
    let workers = [spawn_location_worker(&env), spawn_location_worker(&env)];
    let base = Utc::now().trunc_subsecs(3) - Span::minutes(30);
    let mut outcomes = Vec::new();
    for (round, seed) in [(0u32, 7u64), (1, 99), (2, 12345)] {
        let tn = TrackingNumber::parse(&format!("TRKPROP{round}")).unwrap();
        insert_package(&env, tn.as_str()).await;
        let points = round_points(&tn, round, base);
        publish_shuffled(&env, &points, seed).await;
        let latitudes = stored_latitudes(&env, tn.as_str(), points.len()).await;
        let newest = points.last().unwrap();
        let (lat, seen): (Option<f64>, Option<chrono::DateTime<Utc>>) = sqlx::query_as(
            "SELECT latitude, last_seen_at FROM packages WHERE tracking_number = $1",
        )
        .bind(tn.as_str())
        .fetch_one(&env.pool)
        .await
        .unwrap();
        assert_eq!(
            lat,
            Some(newest.coordinates.latitude()),
            "round {round}: latest is the newest point"
        );
        assert_eq!(seen, Some(newest.recorded_at));
        // MongoDB's latest position follows PostgreSQL's, a moment behind.
        let latest = env.mongo().await.collection::<Document>("latest_positions");
        let newest_id = newest.point_id.to_string();
        eventually(WAIT, "the newest point projected", || async {
            let doc = latest.find_one(doc! { "_id": tn.as_str() }).await.ok()??;
            (doc.get_str("point_id").ok()? == newest_id).then_some(())
        })
        .await;
        outcomes.push((latitudes, lat));
    }
    assert!(
        outcomes.windows(2).all(|w| w[0] == w[1]),
        "every round ends the same"
    );
    // Once the workers stopped, nothing is in flight: a duplicate applied
    // late would have taken a number. (The history is keyed by point id and
    // could not show it.)
    testkit::app::drain_then_stop(
        &env,
        &env.topology().locations_queue(),
        workers.into(),
        || spawn_location_worker(&env),
    )
    .await;
    for round in 0..3 {
        assert_eq!(
            env.event_seq(&format!("TRKPROP{round}")).await,
            30,
            "round {round}: each point numbered once, its duplicates not at all"
        );
    }
}

/// A round's 30 points, ten seconds apart from `base`.
fn round_points(
    tn: &TrackingNumber,
    round: u32,
    base: chrono::DateTime<Utc>,
) -> Vec<LocationPoint> {
    (0..30)
        .map(|i| LocationPoint {
            point_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{round}-{i}").as_bytes()),
            tracking_number: tn.clone(),
            coordinates: Coordinates::new(40.0 + f64::from(i) / 100.0, -74.0).unwrap(),
            address: None,
            measurements: shared::locations::Measurements {
                accuracy_m: Some(5.0),
                ..shared::locations::Measurements::default()
            },
            recorded_at: base + Span::seconds(i64::from(i) * 10),
            received_at: Utc::now().trunc_subsecs(3),
            source: None,
        })
        .collect()
}

/// Every point once, a third of them twice, in a shuffled order, in batches
/// of varying size.
async fn publish_shuffled(env: &TestEnv, points: &[LocationPoint], seed: u64) {
    let mut delivery: Vec<LocationPoint> = points
        .iter()
        .cloned()
        .chain(points.iter().step_by(3).cloned())
        .collect();
    shuffle(&mut delivery, seed);
    let mut rest = delivery.as_slice();
    let mut size = 1;
    while !rest.is_empty() {
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        let envelope = Envelope::new(
            Uuid::now_v7(),
            Utc::now(),
            testkit::dispatcher(),
            LocationBatch::new(batch.to_vec()),
        );
        env.publish_locations(&envelope).await;
        rest = tail;
        size = size % 5 + 1;
    }
}

/// The package's stored points' latitudes, oldest first, once all `count`
/// are stored.
async fn stored_latitudes(env: &TestEnv, tn: &str, count: usize) -> Vec<f64> {
    let history = env.mongo().await.collection::<Document>("location_history");
    let stored: Vec<Document> = eventually(WAIT, "all points stored", || async {
        let docs: Vec<Document> = history
            .find(doc! { "tracking_number": tn })
            .sort(doc! { "recorded_at": 1 })
            .await
            .ok()?
            .try_collect()
            .await
            .ok()?;
        (docs.len() == count).then_some(docs)
    })
    .await;
    stored
        .iter()
        .map(|d| {
            d.get_document("location")
                .unwrap()
                .get_array("coordinates")
                .unwrap()[1]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn point(tn: &str) -> LocationPoint {
    testkit::location_point(tn)
}

async fn history_count(env: &TestEnv, filter: Document) -> u64 {
    env.mongo()
        .await
        .collection::<Document>("location_history")
        .count_documents(filter)
        .await
        .unwrap()
}

#[tokio::test]
async fn points_for_an_unknown_package_are_dead_lettered_with_the_reason_after_the_retry_window() {
    let env = TestEnv::new().await;
    let worker = Workers::spawn(workers::WorkerConfig {
        run_packages: false,
        unknown_package_retry: Duration::from_secs(2),
        ..testkit::app::worker_config(&env)
    });
    insert_package(&env, "TRKKNOWN1").await;
    let batch = LocationBatch::new(vec![point("TRKKNOWN1"), point("TRKNOBODY")]);
    let envelope = Envelope::new(Uuid::now_v7(), Utc::now(), testkit::dispatcher(), batch);
    let published = tokio::time::Instant::now();
    env.publish_locations(&envelope).await;
    let dead = env
        .get_message(&env.topology().dead_queue(), WAIT)
        .await
        .expect("a dead letter");
    assert!(
        published.elapsed() >= Duration::from_secs(2),
        "retried for the window first"
    );
    let reason = workers::dead_letter::reason_of(&dead).unwrap();
    assert!(
        reason.contains("TRKNOBODY") && !reason.contains("TRKKNOWN1"),
        "{reason}"
    );
    let dead_batch: Envelope<LocationBatch> = env.open(&dead.data);
    assert_eq!(dead_batch.body.points.len(), 1);
    assert_eq!(
        history_count(&env, doc! {}).await,
        1,
        "the known package's point is stored, once"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_point_that_overtakes_its_package_create_is_stored_once_the_package_exists() {
    let env = TestEnv::new().await;
    let worker = spawn_location_worker(&env);
    let early = point("TRKLATECREATE");
    let envelope = Envelope::new(
        Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        LocationBatch::new(vec![early.clone()]),
    );
    env.publish_locations(&envelope).await;
    // The create arrives a while later (it travels another queue): the
    // worker has tried the point and parked it in the delay line.
    eventually(WAIT, "the point parked to wait for its package", || async {
        (env.queue_depth(&env.topology().location_retry_queue())
            .await
            == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        history_count(&env, doc! {}).await,
        0,
        "nothing to attach it to yet"
    );
    insert_package(&env, "TRKLATECREATE").await;
    eventually(WAIT, "the early point stored", || async {
        (history_count(&env, doc! { "_id": early.point_id.to_string() }).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        env.queue_depth(&env.topology().dead_queue()).await,
        0,
        "not dead-lettered"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_point_id_repeated_across_messages_of_one_window_is_stored_once() {
    let env = TestEnv::new().await;
    insert_package(&env, "TRKREPEAT1").await;
    let a = point("TRKREPEAT1");
    let b = point("TRKREPEAT1");
    // Published before the worker starts, so they meet in one window.
    for points in [
        vec![a.clone(), b.clone()],
        vec![b.clone(), a.clone()],
        vec![a.clone()],
    ] {
        let envelope = Envelope::new(
            Uuid::now_v7(),
            Utc::now(),
            testkit::dispatcher(),
            LocationBatch::new(points),
        );
        env.publish_locations(&envelope).await;
    }
    let worker = spawn_location_worker(&env);
    eventually(WAIT, "both points stored", || async {
        (history_count(&env, doc! {}).await == 2).then_some(())
    })
    .await;
    testkit::app::drain_then_stop(
        &env,
        &env.topology().locations_queue(),
        vec![worker],
        || spawn_location_worker(&env),
    )
    .await;
    assert_eq!(
        env.event_seq("TRKREPEAT1").await,
        2,
        "each point numbered once"
    );
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT pe.seq FROM package_events pe JOIN packages p ON p.id = pe.package_id \
         WHERE p.tracking_number = 'TRKREPEAT1' AND pe.kind = 'location' ORDER BY pe.seq",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(seqs.len(), 2, "each point numbered once: {seqs:?}");
    assert_eq!(
        env.queue_depth(&env.topology().dead_queue()).await,
        0,
        "nothing dead-lettered"
    );
}

/// The write path's shape, command by command: a backlog of single-point
/// messages is stored a window at a time. Written one message at a time it
/// would cost at least two MongoDB writes (history, latest position) and one
/// PostgreSQL write per point.
#[tokio::test]
async fn a_backlog_of_single_points_costs_a_few_writes_per_window_not_per_point() {
    const PACKAGES: usize = 50;
    const POINTS: usize = 1000;
    let env = TestEnv::new().await;
    let mongo = CountingProxy::mongo(&testkit::host_port(&env.config.mongodb_url)).await;
    let postgres = CountingProxy::postgres(&testkit::host_port(&env.config.database_url)).await;
    let numbers: Vec<String> = (0..PACKAGES).map(|i| format!("TRKSHAPE{i:03}")).collect();
    for tn in &numbers {
        insert_package(&env, tn).await;
    }
    // The backlog is queued before the worker starts, as after a burst.
    for i in 0..POINTS {
        let envelope = Envelope::new(
            Uuid::now_v7(),
            Utc::now(),
            testkit::dispatcher(),
            LocationBatch::new(vec![point(&numbers[i % PACKAGES])]),
        );
        env.publish_locations(&envelope).await;
    }
    let mut config = workers::WorkerConfig {
        run_packages: false,
        ..testkit::app::worker_config(&env)
    };
    config.common.mongodb_url = testkit::with_host(&config.common.mongodb_url, mongo.addr);
    config.common.database_url = testkit::with_host(&config.common.database_url, postgres.addr);
    let worker = Workers::spawn(config);
    eventually(WAIT, "every point stored", || async {
        (history_count(&env, doc! {}).await == POINTS as u64).then_some(())
    })
    .await;
    eventually(WAIT, "the queue to drain", || async {
        (env.queue_depth(&env.topology().locations_queue()).await == 0).then_some(())
    })
    .await;
    let latest = env.mongo().await.collection::<Document>("latest_positions");
    eventually(WAIT, "every latest position projected", || async {
        (latest.count_documents(doc! {}).await.ok()? == PACKAGES as u64).then_some(())
    })
    .await;
    worker.stop().await;

    // Per window (W of them, one transaction each): one history insert to
    // MongoDB; to PostgreSQL one INSERT into package_events, one into
    // audit_log, one UPDATE of packages. Per projection round (R): one
    // latest-positions update to MongoDB, one UPDATE clearing the marks.
    let windows = postgres.counts.get("BEGIN");
    let rounds = mongo.counts.get("update");
    let shape = format!(
        "MongoDB {:?}, PostgreSQL {:?}",
        mongo.counts.snapshot(),
        postgres.counts.snapshot()
    );
    assert_eq!(postgres.counts.get("COMMIT"), windows, "{shape}");
    assert!(
        (1..=10).contains(&windows),
        "1,000 queued points take a window or a few, not one per point: {shape}"
    );
    assert!((1..=windows).contains(&rounds), "{shape}");
    assert_eq!(mongo.counts.get("insert"), windows, "{shape}");
    assert_eq!(mongo.counts.get("delete"), 0, "{shape}");
    assert_eq!(postgres.counts.get("INSERT"), 2 * windows, "{shape}");
    assert_eq!(postgres.counts.get("UPDATE"), windows + rounds, "{shape}");
    assert_eq!(postgres.counts.get("DELETE"), 0, "{shape}");
    let points_numbered: i64 = sqlx::query_scalar("SELECT sum(event_seq)::int8 FROM packages")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(points_numbered, POINTS as i64, "each point numbered once");
}

/// A position committed in PostgreSQL but not yet projected when a worker
/// died is projected by the next worker to start: the mark outlives the process.
#[tokio::test]
async fn a_position_left_unprojected_by_a_crash_is_projected_at_the_next_start() {
    let env = TestEnv::new().await;
    let point_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, recipient_address, \
         created_at, updated_at, latitude, longitude, last_seen_at, position_point_id, position_pending) \
         VALUES ($1, 'TRKCRASHED1', 'A', 'B', 'C', 'D', now(), now(), 48.85, 2.35, now(), $2, true)",
    )
    .bind(Uuid::new_v4())
    .bind(point_id)
    .execute(&env.pool)
    .await
    .unwrap();
    let worker = Workers::spawn(workers::WorkerConfig {
        run_packages: false,
        ..testkit::app::worker_config(&env)
    });
    let latest = env.mongo().await.collection::<Document>("latest_positions");
    let doc = eventually(WAIT, "the position projected", || async {
        latest.find_one(doc! { "_id": "TRKCRASHED1" }).await.ok()?
    })
    .await;
    assert_eq!(doc.get_str("point_id").unwrap(), point_id.to_string());
    let coordinates = doc
        .get_document("location")
        .unwrap()
        .get_array("coordinates")
        .unwrap();
    assert_eq!(
        coordinates[0].as_f64(),
        Some(2.35),
        "GeoJSON order: longitude first"
    );
    let pending: bool = eventually(WAIT, "the mark cleared", || async {
        let pending: bool = sqlx::query_scalar(
            "SELECT position_pending FROM packages WHERE tracking_number = 'TRKCRASHED1'",
        )
        .fetch_one(&env.pool)
        .await
        .ok()?;
        (!pending).then_some(pending)
    })
    .await;
    assert!(!pending);
    worker.stop().await;
}
