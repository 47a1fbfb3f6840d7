//! The package worker pool against real RabbitMQ, PostgreSQL and Redis.

use chrono::Utc;
use lapin::BasicProperties;
use shared::amqp::publish_confirmed;
use shared::cache::ViewCache;
use shared::domain::{BoundedText, Coordinates, PackageStatus, TrackingNumber};
use shared::wire::{
    Command, CreatePackage, Envelope, Event, PackageEvent, RejectReason, UpdateStatus,
};
use std::time::Duration;
use testkit::app::Workers;
use testkit::{eventually, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

/// The worker pools, consuming the given package shards.
fn spawn_worker(env: &TestEnv, shards: &str) -> Workers {
    Workers::spawn(workers::WorkerConfig {
        shards: workers::config::parse_shards(shards, env.topology().package_shards()).unwrap(),
        ..testkit::app::worker_config(env)
    })
}

fn text(s: &str) -> BoundedText {
    BoundedText::parse(s, 200).unwrap()
}

pub(super) fn tracking_number() -> TrackingNumber {
    TrackingNumber::parse(&format!(
        "TRK{}",
        &Uuid::new_v4().simple().to_string()[..12]
    ))
    .unwrap()
}

pub(super) fn create(tn: &TrackingNumber) -> Envelope<Command> {
    Envelope::new(
        Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        Command::CreatePackage(CreatePackage {
            package_id: Uuid::new_v4(),
            tracking_number: tn.clone(),
            sender_name: text("Ann Sender"),
            sender_address: text("1 Main St"),
            recipient_name: text("Bob Recipient"),
            recipient_address: text("2 High St"),
            weight: Some(2.5),
            description: None,
            owner_id: None,
            recipient_email: None,
            destination: None,
            promised_by: None,
            notify_recipient: None,
        }),
    )
}

pub(super) fn status(
    tn: &TrackingNumber,
    status: PackageStatus,
    location: Option<&str>,
) -> Envelope<Command> {
    Envelope::new(
        Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        Command::UpdateStatus(UpdateStatus {
            tracking_number: tn.clone(),
            status,
            location: location.map(text),
            coordinates: Some(Coordinates::new(40.7357, -74.1724).unwrap()),
        }),
    )
}

async fn send(env: &TestEnv, envelope: &Envelope<Command>) {
    env.publish_command(envelope).await;
}

/// The next event about a package's state, skipping the location events that
/// status updates with coordinates also cause.
async fn next_package_event(env: &TestEnv, tap: &mut lapin::Consumer) -> Option<Envelope<Event>> {
    loop {
        let event = env.next_event(tap, WAIT).await?;
        if !matches!(
            event.body,
            Event::Package(PackageEvent::LocationsRecorded(_))
        ) {
            return Some(event);
        }
    }
}

async fn status_history(env: &TestEnv, tn: &TrackingNumber) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT se.status, se.version FROM status_events se JOIN packages p ON p.id = se.package_id \
         WHERE p.tracking_number = $1 ORDER BY se.version",
    )
    .bind(tn.as_str())
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

async fn current_status(env: &TestEnv, tn: &TrackingNumber) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM packages WHERE tracking_number = $1")
        .bind(tn.as_str())
        .fetch_optional(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_package_moves_through_its_flow_and_every_change_is_announced() {
    let env = TestEnv::new().await;
    let mut tap = env.event_tap().await;
    let worker = spawn_worker(&env, "all");
    let tn = tracking_number();

    send(&env, &create(&tn)).await;
    send(
        &env,
        &status(
            &tn,
            PackageStatus::InTransit,
            Some("Newark Distribution Center"),
        ),
    )
    .await;
    send(&env, &status(&tn, PackageStatus::OutForDelivery, None)).await;
    send(
        &env,
        &status(&tn, PackageStatus::Delivered, Some("Front door")),
    )
    .await;

    let created = next_package_event(&env, &mut tap)
        .await
        .expect("created event");
    let Event::Package(PackageEvent::PackageCreated(created)) = created.body else {
        panic!("expected created, got {created:?}")
    };
    assert_eq!(created.package.status, PackageStatus::Pending);
    assert_eq!(created.package.tracking_number, tn.as_str());
    let mut versions = vec![];
    for expected in [
        PackageStatus::InTransit,
        PackageStatus::OutForDelivery,
        PackageStatus::Delivered,
    ] {
        let event = next_package_event(&env, &mut tap)
            .await
            .expect("status event");
        let Event::Package(PackageEvent::StatusChanged(changed)) = event.body else {
            panic!("expected status change, got {event:?}")
        };
        assert_eq!(changed.status, expected);
        versions.push(changed.version);
    }
    assert_eq!(versions, vec![2, 3, 4]);

    let history = status_history(&env, &tn).await;
    let expected: Vec<(String, i64)> = ["pending", "in_transit", "out_for_delivery", "delivered"]
        .iter()
        .zip(1..)
        .map(|(s, v)| (s.to_string(), v))
        .collect();
    assert_eq!(history, expected);
    let (location, lat, version): (Option<String>, Option<f64>, i64) = sqlx::query_as(
        "SELECT current_location, latitude, version FROM packages WHERE tracking_number = $1",
    )
    .bind(tn.as_str())
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(location.as_deref(), Some("Front door"));
    assert_eq!(lat, Some(40.7357));
    assert_eq!(version, 4);
    worker.stop().await;
}

#[tokio::test]
async fn a_redelivered_command_changes_nothing_and_reports_the_same_outcome() {
    let env = TestEnv::new().await;
    let mut tap = env.event_tap().await;
    let worker = spawn_worker(&env, "all");
    let tn = tracking_number();
    let created = create(&tn);
    let moved = status(&tn, PackageStatus::InTransit, Some("Hub"));
    for envelope in [&created, &created, &moved, &moved] {
        send(&env, envelope).await;
    }
    let mut events = vec![];
    for _ in 0..4 {
        events.push(next_package_event(&env, &mut tap).await.expect("event"));
    }
    assert_eq!(
        events[0], events[1],
        "a replayed create reports the same outcome"
    );
    assert_eq!(
        events[2], events[3],
        "a replayed status update reports the same outcome"
    );
    assert!(
        matches!(events[2].body, Event::Package(PackageEvent::StatusChanged(ref c)) if c.version == 2)
    );
    assert_eq!(
        status_history(&env, &tn).await.len(),
        2,
        "one history row per command"
    );
    worker.stop().await;
}

#[tokio::test]
async fn forbidden_transitions_and_unknown_packages_are_rejected_without_writes() {
    let env = TestEnv::new().await;
    let mut tap = env.event_tap().await;
    let worker = spawn_worker(&env, "all");
    let tn = tracking_number();
    send(&env, &create(&tn)).await;
    send(&env, &status(&tn, PackageStatus::Delivered, None)).await;
    let unknown = tracking_number();
    send(&env, &status(&unknown, PackageStatus::InTransit, None)).await;
    let dup = create(&tn);
    send(&env, &dup).await;

    let mut rejections = vec![];
    for _ in 0..4 {
        let event = next_package_event(&env, &mut tap).await.expect("event");
        if let Event::Package(PackageEvent::CommandRejected {
            tracking_number,
            reason,
            message,
        }) = event.body
        {
            rejections.push((tracking_number, reason, message));
        }
    }
    rejections.sort_by_key(|r| r.2.clone());
    assert_eq!(rejections.len(), 3, "{rejections:?}");
    assert!(rejections.iter().any(|(t, r, m)| t == &tn
        && *r == RejectReason::Conflict
        && m == "cannot change status from pending to delivered"));
    assert!(rejections
        .iter()
        .any(|(t, r, _)| t == &unknown && *r == RejectReason::NotFound));
    assert!(rejections
        .iter()
        .any(|(t, r, m)| t == &tn && *r == RejectReason::Conflict && m.contains("already exists")));
    assert_eq!(current_status(&env, &tn).await.as_deref(), Some("pending"));
    assert_eq!(status_history(&env, &tn).await.len(), 1);
    assert_eq!(current_status(&env, &unknown).await, None);
    worker.stop().await;
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_with_its_reason() {
    let env = TestEnv::new().await;
    let worker = spawn_worker(&env, "all");
    // Sealed with the deployment's key, so it is opened, and found to be
    // no envelope.
    let sealed = env.config.signing.seal(b"definitely not msgpack");
    publish_confirmed(
        env.channel(),
        &env.topology().commands_exchange(),
        "package.0.create",
        &sealed,
        BasicProperties::default().with_delivery_mode(2),
        shared::amqp::Routing::Mandatory,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let dead = env
        .get_message(&env.topology().dead_queue(), WAIT)
        .await
        .expect("a dead letter");
    assert_eq!(dead.data, sealed, "dead-lettered as it came");
    let reason = workers::dead_letter::reason_of(&dead).expect("reason header");
    assert!(reason.contains("undecodable"), "{reason}");
    eventually(WAIT, "the command queue to drain", || async {
        (env.queue_depth(&env.topology().package_queue(0)).await == 0).then_some(())
    })
    .await;
    worker.stop().await;
}

#[tokio::test]
async fn each_package_keeps_its_order_with_several_workers_running() {
    let env = TestEnv::new().await;
    // Two workers split the shards; a third consumes all of them and stands by
    // (single active consumer) — three instances, every shard still in order.
    let workers = [
        spawn_worker(&env, "0-1"),
        spawn_worker(&env, "2-3"),
        spawn_worker(&env, "all"),
    ];
    let packages: Vec<TrackingNumber> = (0..24).map(|_| tracking_number()).collect();
    // Interleave the packages' commands the way concurrent clients would.
    for tn in &packages {
        send(&env, &create(tn)).await;
    }
    for step in [
        PackageStatus::InTransit,
        PackageStatus::OutForDelivery,
        PackageStatus::Delivered,
    ] {
        for tn in &packages {
            send(&env, &status(tn, step, None)).await;
        }
    }
    for tn in &packages {
        eventually(WAIT, "every package delivered", || async {
            (current_status(&env, tn).await.as_deref() == Some("delivered")).then_some(())
        })
        .await;
        let history: Vec<String> = status_history(&env, tn)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            history,
            ["pending", "in_transit", "out_for_delivery", "delivered"],
            "{tn}"
        );
    }
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test]
async fn a_committed_change_invalidates_the_cached_view_and_no_older_view_comes_back() {
    let env = TestEnv::new().await;
    let worker = spawn_worker(&env, "all");
    let tn = tracking_number();
    send(&env, &create(&tn)).await;
    eventually(WAIT, "the package", || async {
        current_status(&env, &tn).await
    })
    .await;
    let cache = ViewCache::new(&env.config.redis_target(), &env.config.redis_prefix).unwrap();
    assert!(cache
        .put_package(tn.as_str(), 1, "{\"version\":1}")
        .await
        .unwrap());
    // A reader that read version 1 just before this change commits...
    send(&env, &status(&tn, PackageStatus::InTransit, None)).await;
    eventually(WAIT, "the cached view invalidated", || async {
        cache
            .get_package(tn.as_str())
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    // ...cannot store it after the worker's invalidation: it is older.
    assert!(!cache
        .put_package(tn.as_str(), 1, "{\"version\":1}")
        .await
        .unwrap());
    assert_eq!(cache.get_package(tn.as_str()).await.unwrap(), None);
    // The committed version is welcome, and a newer view is never replaced by an older one.
    assert!(cache
        .put_package(tn.as_str(), 2, "{\"version\":2}")
        .await
        .unwrap());
    assert!(!cache
        .put_package(tn.as_str(), 1, "{\"version\":1}")
        .await
        .unwrap());
    assert_eq!(
        cache.get_package(tn.as_str()).await.unwrap().as_deref(),
        Some("{\"version\":2}")
    );
    worker.stop().await;
}

#[tokio::test]
async fn an_invalidation_that_redis_missed_is_retried_until_it_lands() {
    let env = TestEnv::new().await;
    let redis_address = env
        .config
        .redis_url
        .trim_start_matches("redis://")
        .to_owned();
    let proxy = testkit::proxy::Proxy::start(&redis_address).await;
    let mut config = testkit::app::worker_config(&env);
    config.common.redis_url = format!("redis://{}", proxy.addr);
    let worker = Workers::spawn(config);
    let tn = tracking_number();
    send(&env, &create(&tn)).await;
    eventually(WAIT, "the package", || async {
        current_status(&env, &tn).await
    })
    .await;
    let cache = ViewCache::new(&env.config.redis_target(), &env.config.redis_prefix).unwrap();
    assert!(cache
        .put_package(tn.as_str(), 1, "{\"version\":1}")
        .await
        .unwrap());

    proxy.cut();
    let mut tap = env.event_tap().await;
    send(&env, &status(&tn, PackageStatus::InTransit, None)).await;
    eventually(WAIT, "the change committed", || async {
        (current_status(&env, &tn).await.as_deref() == Some("in_transit")).then_some(())
    })
    .await;
    // The worker publishes the change's event after its inline attempt to
    // invalidate: once the event is out, that attempt has been made.
    env.next_event(&mut tap, WAIT)
        .await
        .expect("the status change's event");
    assert!(
        cache.get_package(tn.as_str()).await.unwrap().is_some(),
        "the worker could not reach Redis"
    );
    proxy.restore();
    eventually(
        WAIT,
        "the stale view invalidated once Redis is back",
        || async {
            cache
                .get_package(tn.as_str())
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    worker.stop().await;
}

#[tokio::test]
async fn a_database_outage_is_waited_out_and_nothing_is_lost() {
    let env = TestEnv::new().await;
    let worker = spawn_worker(&env, "all");
    let tn = tracking_number();
    send(&env, &create(&tn)).await;
    eventually(WAIT, "the package", || async {
        current_status(&env, &tn).await
    })
    .await;

    env.set_database_available(false).await;
    send(&env, &status(&tn, PackageStatus::InTransit, Some("Hub"))).await;
    // The worker has taken the update into the outage (it waits it out
    // holding the message), and stays in it a while.
    eventually(WAIT, "the worker to take the update", || async {
        (env.package_queue_depth().await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.set_database_available(true).await;

    eventually(WAIT, "the update applied after the outage", || async {
        (current_status(&env, &tn).await.as_deref() == Some("in_transit")).then_some(())
    })
    .await;
    assert_eq!(
        env.queue_depth(&env.topology().dead_queue()).await,
        0,
        "nothing dead-lettered"
    );
    worker.stop().await;
}

/// A backlog of package commands is applied a window per transaction (each
/// command still in order and idempotent), not a transaction per command.
#[tokio::test]
async fn a_backlog_of_commands_is_applied_a_window_per_transaction() {
    const PACKAGES: usize = 50;
    let env = TestEnv::new().await;
    let postgres =
        testkit::wire_count::CountingProxy::postgres(&testkit::host_port(&env.config.database_url))
            .await;
    let numbers: Vec<TrackingNumber> = (0..PACKAGES).map(|_| tracking_number()).collect();
    let flow = [
        PackageStatus::InTransit,
        PackageStatus::OutForDelivery,
        PackageStatus::Delivered,
    ];
    // Queued before the worker starts, as after a burst: per package, a
    // create then its flow; packages interleaved.
    for tn in &numbers {
        send(&env, &create(tn)).await;
    }
    for next in flow {
        for tn in &numbers {
            send(&env, &status(tn, next, None)).await;
        }
    }
    let commands = (PACKAGES * (1 + flow.len())) as u64;
    let mut config = testkit::app::worker_config(&env);
    config.run_locations = false;
    config.common.database_url = testkit::with_host(&config.common.database_url, postgres.addr);
    let worker = Workers::spawn(config);
    for tn in &numbers {
        eventually(WAIT, "the package delivered", || async {
            (current_status(&env, tn).await.as_deref() == Some("delivered")).then_some(())
        })
        .await;
        let statuses: Vec<String> = status_history(&env, tn)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            statuses,
            ["pending", "in_transit", "out_for_delivery", "delivered"]
        );
    }
    worker.stop().await;
    let transactions = postgres.counts.get("BEGIN");
    assert!(transactions >= 1);
    assert!(
        transactions * 5 <= commands,
        "{transactions} transactions for {commands} commands: {:?}",
        postgres.counts.snapshot()
    );
}

#[tokio::test]
async fn a_window_that_fails_for_good_is_retried_message_by_message_so_only_the_culprit_is_dead_lettered(
) {
    // One shard, and everything queued before the worker starts: the
    // commands meet in one window.
    let env = TestEnv::with_shards(1).await;
    let numbers: Vec<TrackingNumber> = (0..9).map(|_| tracking_number()).collect();
    let culprit = &numbers[4];
    for tn in &numbers {
        let mut envelope = create(tn);
        if tn == culprit {
            // PostgreSQL cannot store a NUL in text: this create fails
            // whenever it is tried, unlike an outage.
            if let Command::CreatePackage(create) = &mut envelope.body {
                create.sender_name =
                    serde_json::from_value(serde_json::json!("Ann\u{0}Sender")).unwrap();
            }
        }
        send(&env, &envelope).await;
    }
    let worker = spawn_worker(&env, "all");
    let dead = env
        .get_message(&env.topology().dead_queue(), WAIT)
        .await
        .expect("a dead letter");
    let reason = workers::dead_letter::reason_of(&dead).expect("reason header");
    assert!(reason.contains("cannot be applied"), "{reason}");
    let dead: Envelope<Command> = env.open(&dead.data);
    assert!(
        matches!(&dead.body, Command::CreatePackage(c) if &c.tracking_number == culprit),
        "the culprit, and only it: {dead:?}"
    );
    for tn in numbers.iter().filter(|tn| *tn != culprit) {
        eventually(WAIT, "every other package created", || async {
            current_status(&env, tn).await
        })
        .await;
    }
    worker.stop().await;
    assert_eq!(current_status(&env, culprit).await, None);
    assert_eq!(
        env.queue_depth(&env.topology().dead_queue()).await,
        0,
        "nothing else dead-lettered"
    );
}
