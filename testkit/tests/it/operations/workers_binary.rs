//! The `workers` binary: SIGTERM hands unfinished work back to the queue and
//! exits 0.

use chrono::Utc;
use shared::domain::{PackageStatus, TrackingNumber};
use shared::wire::{Command, Envelope, UpdateStatus};
use std::process::Command as Process;
use std::time::Duration;
use testkit::{eventually, KillOnDrop, TestEnv};

async fn consumers(env: &TestEnv, queue: &str) -> Option<(u32, u32)> {
    let channel = env.new_channel().await;
    let declared = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .ok()?;
    Some((declared.consumer_count(), declared.message_count()))
}

#[tokio::test]
async fn sigterm_returns_in_flight_work_to_the_queue_and_exits_0() {
    let env = TestEnv::new().await;
    let tn = TrackingNumber::parse("TRK000SIGTERM").unwrap();
    let queue = env
        .topology()
        .package_queue(env.topology().shard_of(tn.as_str()));
    let mut child = Process::new(testkit::bins::path("workers"))
        .envs(env.service_env())
        .spawn()
        .expect("spawn workers");
    let pid = child.id();
    let _kill_on_panic = KillOnDrop(pid);
    eventually(Duration::from_secs(15), "the worker to consume", || async {
        consumers(&env, &queue)
            .await
            .filter(|(c, _)| *c > 0)
            .map(drop)
    })
    .await;

    // Make the database unavailable so the worker holds the command, retrying.
    env.set_database_available(false).await;
    let command = UpdateStatus {
        tracking_number: tn,
        status: PackageStatus::InTransit,
        location: None,
        coordinates: None,
    };
    env.publish_command(&Envelope::new(
        uuid::Uuid::now_v7(),
        Utc::now(),
        testkit::dispatcher(),
        Command::UpdateStatus(command),
    ))
    .await;
    eventually(
        Duration::from_secs(15),
        "the worker to take the command",
        || async {
            consumers(&env, &queue)
                .await
                .filter(|(_, ready)| *ready == 0)
                .map(drop)
        },
    )
    .await;

    assert!(Process::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let exit = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("workers exit in time")
    .unwrap()
    .unwrap();
    assert_eq!(exit.code(), Some(0));
    eventually(
        Duration::from_secs(10),
        "the command back in its queue",
        || async {
            consumers(&env, &queue)
                .await
                .filter(|(c, ready)| *c == 0 && *ready == 1)
                .map(drop)
        },
    )
    .await;
    env.set_database_available(true).await;
}
