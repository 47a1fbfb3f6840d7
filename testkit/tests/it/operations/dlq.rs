//! Dead letters as an operator sees them: listed with their reasons, and
//! re-driven once the cause is fixed, applied once.

use chrono::Utc;
use lapin::BasicProperties;
use mongodb::bson::{doc, Document};
use shared::topology::Topology;
use shared::wire::{Envelope, LocationBatch};
use std::time::Duration;
use testkit::app::{Workers, WAIT};
use testkit::{eventually, TestEnv};
use uuid::Uuid;
use workers::dlq::{self, Selection};

async fn dead_letters(env: &TestEnv) -> Vec<dlq::DeadLetter> {
    dlq::list(&env.config.brokers, env.topology(), 100)
        .await
        .unwrap()
}

#[tokio::test]
async fn dead_letters_are_listed_with_reasons_and_redriven_once() {
    let env = TestEnv::new().await;
    let worker = Workers::spawn(workers::WorkerConfig {
        unknown_package_retry: Duration::from_secs(1),
        ..testkit::app::worker_config(&env)
    });
    let point = testkit::location_point("TRKDLQ00001");
    let batch = Envelope::new(
        Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        LocationBatch::new(vec![point.clone()]),
    );
    env.publish_locations(&batch).await;
    shared::amqp::publish_confirmed(
        env.channel(),
        &env.topology().commands_exchange(),
        "package.0.create",
        // Sealed, so it is read, and found to be no command.
        &env.config.signing.seal(b"not a command"),
        BasicProperties::default().with_delivery_mode(2),
        shared::amqp::Routing::Mandatory,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let unknown = listed_with_reasons(&env).await;
    // The cause is fixed: the package exists now.
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, recipient_address, \
         created_at, updated_at) VALUES ($1, 'TRKDLQ00001', 'A', 'B', 'C', 'D', now(), now())",
    )
    .bind(Uuid::new_v4())
    .execute(&env.pool)
    .await
    .unwrap();
    redriven_once(&env, &unknown.id).await;
    // Re-driving the same message again (an interrupted re-drive) stores
    // nothing twice. The history is keyed by the point's id, so it could
    // not hold a second copy; the package's event counter would count one.
    env.publish_locations(&batch).await;
    let config = || workers::WorkerConfig {
        unknown_package_retry: Duration::from_secs(1),
        ..testkit::app::worker_config(&env)
    };
    testkit::app::drain_then_stop(
        &env,
        &env.topology().locations_queue(),
        vec![worker],
        || Workers::spawn(config()),
    )
    .await;
    assert_eq!(env.event_seq("TRKDLQ00001").await, 1, "applied once");
    let left = dead_letters(&env).await;
    assert_eq!(
        left.len(),
        1,
        "the undecodable one stays until re-driven: {left:?}"
    );
    the_binary_lists_it(&env);
}

/// Both dead letters listed (and left in place), each with its reason;
/// the unknown package's points.
async fn listed_with_reasons(env: &TestEnv) -> dlq::DeadLetter {
    let letters = eventually(WAIT, "two dead letters", || async {
        let letters = dead_letters(env).await;
        (letters.len() == 2).then_some(letters)
    })
    .await;
    assert_eq!(
        dead_letters(env).await.len(),
        2,
        "listing leaves them in place"
    );
    let unknown = letters
        .iter()
        .find(|l| l.reason.contains("TRKDLQ00001"))
        .expect("the unknown package's points, with the reason");
    assert_eq!(unknown.queue, env.topology().locations_queue());
    assert_eq!(
        unknown.destination,
        Some((
            env.topology().commands_exchange(),
            Topology::LOCATION_ROUTING_KEY.to_owned()
        ))
    );
    assert!(letters.iter().any(|l| l.reason.contains("undecodable")));
    unknown.clone()
}

/// Re-driven by id, the point is stored; a second re-drive finds nothing.
async fn redriven_once(env: &TestEnv, id: &str) {
    let selection = Selection::Id(id.to_owned());
    assert_eq!(
        dlq::redrive(&env.config.brokers, env.topology(), &selection)
            .await
            .unwrap(),
        1
    );
    let history = env.mongo().await.collection::<Document>("location_history");
    eventually(WAIT, "the re-driven point stored", || async {
        (history.count_documents(doc! {}).await.ok()? == 1).then_some(())
    })
    .await;
    assert_eq!(
        dlq::redrive(&env.config.brokers, env.topology(), &selection)
            .await
            .unwrap(),
        0,
        "gone from the queue"
    );
    assert_eq!(env.event_seq("TRKDLQ00001").await, 1, "the point numbered");
}

/// The binary lists what is left the same way.
fn the_binary_lists_it(env: &TestEnv) {
    let output = std::process::Command::new(testkit::bins::path("workers"))
        .args(["dlq", "list"])
        .env("AMQP_PREFIX", env.topology().prefix())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("undecodable") && stdout.contains("1 dead letter(s)"),
        "{stdout}"
    );
}
