//! Scaling and depth: location workers sharing one backlog, a shard-count
//! mismatch refused, queue depths in `/api/v1/stats`.

use super::system::{env_with, workers};
use serde_json::{json, Value};
use shared::wire::{Envelope, LocationBatch};
use std::time::Duration;
use testkit::app::{TestApp, WAIT};
use testkit::metrics::scrape;
use testkit::services::Process;
use testkit::ws;
use testkit::{eventually, TestEnv};

#[tokio::test]
async fn two_location_worker_processes_share_one_backlog_and_store_each_point_once() {
    let mut app = TestApp::spawn().await;
    let numbers: Vec<String> = (0..5).map(|i| format!("TRK0SHARE{i:05}")).collect();
    for tn in &numbers {
        app.created(tn).await;
    }
    app.stop_workers().await;
    let messages = 200;
    for i in 0..messages {
        let points = (0..3)
            .map(|_| testkit::location_point(&numbers[i % numbers.len()]))
            .collect();
        app.env
            .publish_locations(&Envelope::new(
                uuid::Uuid::now_v7(),
                chrono::Utc::now(),
                testkit::dispatcher(),
                LocationBatch::new(points),
            ))
            .await;
    }
    // Small prefetches, so neither process can take the whole backlog.
    let pool = [
        ("WORKER_POOLS", "locations".to_owned()),
        ("WORKER_LOCATION_PREFETCH", "8".to_owned()),
    ];
    let (first, first_metrics) = workers(&app.env, &pool).await;
    let (second, second_metrics) = workers(&app.env, &pool).await;
    let history = app
        .env
        .mongo()
        .await
        .collection::<mongodb::bson::Document>("location_history");
    eventually(Duration::from_secs(60), "every point stored", || async {
        let stored = history.count_documents(mongodb::bson::doc! {}).await.ok()?;
        (stored >= (messages * 3) as u64).then_some(())
    })
    .await;
    let consumed = "delivertrack_workers_messages_consumed_total";
    let acked = "delivertrack_workers_messages_acked_total";
    let locations = [("pool", "locations")];
    let counts = eventually(WAIT, "both processes to ack what they took", || async {
        let (a, b) = (scrape(&first_metrics).await, scrape(&second_metrics).await);
        let taken = a.value(consumed, &locations) + b.value(consumed, &locations);
        let done = a.value(acked, &locations) + b.value(acked, &locations);
        (done == messages as f64).then_some((
            a.value(consumed, &locations),
            b.value(consumed, &locations),
            taken,
        ))
    })
    .await;
    let (by_first, by_second, taken) = counts;
    assert!(
        by_first > 0.0 && by_second > 0.0,
        "both consumed: {by_first} and {by_second}"
    );
    assert_eq!(taken, messages as f64, "no message taken twice");
    assert_eq!(
        app.env
            .queue_depth(&app.env.topology().locations_queue())
            .await,
        0
    );
    // Every message acked, so nothing is in flight: a point applied twice
    // would have taken a second number (the history, keyed by point id,
    // cannot show one). Each package's creation is its event 1.
    let mut numbered = 0;
    for tn in &numbers {
        numbered += app.env.event_seq(tn).await - 1;
    }
    assert_eq!(numbered, (messages * 3) as i64, "each point stored once");
    drop((first, second));
    app.shutdown().await;
}

#[tokio::test]
async fn a_process_with_another_shard_count_refuses_to_run_saying_so_in_one_line() {
    let env = TestEnv::with_shards(4).await;
    for (service, extra) in [
        ("workers", vec![("METRICS_LISTEN", "off".to_owned())]),
        ("ingest", vec![("INGEST_LISTEN", "127.0.0.1:0".to_owned())]),
    ] {
        let mut vars = env_with(&env, &extra);
        vars.push(("PACKAGE_SHARDS".to_owned(), "8".to_owned()));
        let mut process = Process::start_logged(service, &vars, false);
        let code = process.wait_exit(Duration::from_secs(30));
        assert!(
            matches!(code, Some(c) if c != 0),
            "{service} exited with {code:?}"
        );
        let said = process.logs.containing("PACKAGE_SHARDS");
        assert_eq!(said.len(), 1, "{service}: {:?}", process.logs.lines());
        assert!(
            said[0].starts_with(&format!("{service}: PACKAGE_SHARDS=8"))
                && said[0].contains("with 4 package shards"),
            "{}",
            said[0]
        );
    }
    // Nothing was declared for the other count: no fifth shard queue.
    let channel = env.new_channel().await;
    let fifth = channel
        .queue_declare(
            shared::topology::Topology::new(env.topology().prefix(), 8)
                .package_queue(4)
                .into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    assert!(fifth.is_err(), "a queue for shard 4 of 8 exists");
}

/// The package queues' total in `/stats`, and each queue's entry.
async fn package_backlog(app: &TestApp) -> (u64, Vec<Value>) {
    let stats: Value = app.get("/stats").await.json().await.expect("stats");
    let queues: Vec<Value> = stats["queues"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|q| q["pool"] == "packages")
        .collect();
    let ready = queues
        .iter()
        .filter_map(|q| q["messages_ready"].as_u64())
        .sum();
    (ready, queues)
}

#[tokio::test]
async fn stats_show_a_queue_rising_while_its_workers_are_stopped_and_falling_when_they_start() {
    let mut app = TestApp::spawn().await;
    let tn = "TRK0DEPTH0001";
    app.created(tn).await;
    let (ready, queues) = package_backlog(&app).await;
    assert_eq!(ready, 0);
    assert_eq!(
        queues.len(),
        usize::from(app.env.topology().package_shards())
    );
    assert!(
        queues.iter().all(|q| q["consumers"].as_u64() >= Some(1)),
        "{queues:?}"
    );

    app.stop_workers().await;
    for status in [
        "in_transit",
        "out_for_delivery",
        "delivered",
        "in_transit",
        "delivered",
    ] {
        let accepted = app
            .http
            .put(app.url(&format!("/packages/{tn}/status")))
            .header("prefer", "respond-async")
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
    }
    // (/stats reads the depths at most once a second.)
    let queues = eventually(WAIT, "five waiting and no consumer", || async {
        let (ready, queues) = package_backlog(&app).await;
        (ready == 5 && queues.iter().all(|q| q["consumers"] == 0)).then_some(queues)
    })
    .await;
    // Unacked counts come from the management API, which this machine runs
    // (it samples queues every few seconds): hold one delivery unacked.
    let busy = queues
        .iter()
        .find(|q| q["messages_ready"] == 5)
        .and_then(|q| q["queue"].as_str())
        .expect("the package's shard queue")
        .to_owned();
    // (A consumer, not basic.get: shard queues have a single active consumer.)
    let holder = app.env.new_channel().await;
    holder
        .basic_qos(1, Default::default())
        .await
        .expect("prefetch 1");
    let mut consumer = holder
        .basic_consume(
            busy.as_str().into(),
            "holder".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("consume");
    let held = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut consumer)).await;
    assert!(matches!(held, Ok(Some(Ok(_)))), "a message to hold");
    eventually(WAIT, "the held message counted as unacked", || async {
        let (_, queues) = package_backlog(&app).await;
        let queue = queues.iter().find(|q| q["queue"] == busy.as_str())?;
        (queue["messages_unacknowledged"] == 1 && queue["messages_ready"] == 4).then_some(())
    })
    .await;
    // Closing the channel hands it back.
    holder.close(200, "done".into()).await.expect("close");
    eventually(WAIT, "the held message back in the queue", || async {
        let (ready, _) = package_backlog(&app).await;
        (ready == 5).then_some(())
    })
    .await;

    app.start_workers();
    eventually(WAIT, "the backlog to drain", || async {
        let (ready, queues) = package_backlog(&app).await;
        (ready == 0 && queues.iter().any(|q| q["consumers"].as_u64() >= Some(1))).then_some(())
    })
    .await;

    // Connections over every broadcaster, as each one reports them.
    let broadcaster = app.broadcaster(|_| {}).await;
    let _client = ws::connect(&broadcaster.url).await;
    eventually(WAIT, "the connection counted in stats", || async {
        let stats: Value = app.get("/stats").await.json().await.ok()?;
        (stats["websocket_connections"] == 1 && stats["broadcaster_instances"] == 1).then_some(())
    })
    .await;
    app.shutdown().await;
}

/// A deployment from before the marker was a quorum queue has a classic
/// one: its count is still checked (and the marker left as it is).
#[tokio::test]
async fn a_classic_marker_from_an_older_release_still_guards_the_shard_count() {
    let env = TestEnv::new().await;
    let prefix = format!("{}legacy", env.topology().prefix());
    let (four, eight) = (
        shared::topology::Topology::new(prefix.clone(), 4),
        shared::topology::Topology::new(prefix, 8),
    );
    let connection = env.config.brokers.connect("legacy-marker").await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut classic = lapin::types::FieldTable::default();
    classic.insert(
        "x-max-length".into(),
        lapin::types::AMQPValue::LongLongInt(4),
    );
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(four.marker_queue().into(), durable, classic)
        .await
        .unwrap();
    let refused = eight.declare(&connection).await;
    assert!(
        matches!(refused, Err(shared::topology::DeclareError::ShardsMismatch { ref recorded, .. }) if recorded == "4"),
        "{refused:?}"
    );
    four.declare(&connection)
        .await
        .expect("the same count is accepted");
    let cleanup = connection.create_channel().await.unwrap();
    four.delete(&cleanup).await.unwrap();
    let _ = connection.close(200, "done".into()).await;
}
