//! What one package window costs PostgreSQL, read off the wire: a window of
//! status changes is two reads (replays, the locked packages) and three
//! writes (the packages with their history and numbers in one statement,
//! the carriage, the audit trail), however many commands it holds.

use super::worker::{create, status, tracking_number};
use shared::domain::{PackageStatus, TrackingNumber};
use shared::wire::{Command, Envelope};
use testkit::wire_count::CountingProxy;
use testkit::TestEnv;

#[tokio::test]
async fn a_window_of_status_changes_is_two_reads_and_three_writes() {
    const PACKAGES: usize = 8;
    let env = TestEnv::new().await;
    let numbers: Vec<TrackingNumber> = (0..PACKAGES).map(|_| tracking_number()).collect();
    let creates: Vec<Envelope<Command>> = numbers.iter().map(create).collect();
    let creates: Vec<&Envelope<Command>> = creates.iter().collect();
    workers::packages::apply_window(&env.pool, &creates)
        .await
        .expect("the creates applied");

    let postgres = CountingProxy::postgres(&testkit::host_port(&env.config.database_url)).await;
    let counted =
        sqlx::PgPool::connect(&testkit::with_host(&env.config.database_url, postgres.addr))
            .await
            .expect("a pool through the counting proxy");
    let changes: Vec<Envelope<Command>> = numbers
        .iter()
        .map(|tn| status(tn, PackageStatus::InTransit, Some("Depot")))
        .collect();
    let changes: Vec<&Envelope<Command>> = changes.iter().collect();
    let outcomes = workers::packages::apply_window(&counted, &changes)
        .await
        .expect("the changes applied");
    assert!(outcomes.iter().all(|o| o.applied()), "every change applied");

    let shape = format!("{:?}", postgres.counts.snapshot());
    assert_eq!(postgres.counts.get("BEGIN"), 1, "{shape}");
    assert_eq!(postgres.counts.get("COMMIT"), 1, "{shape}");
    assert_eq!(
        postgres.counts.get("SELECT"),
        2,
        "replays and the locked load: {shape}"
    );
    assert_eq!(
        postgres.counts.sum(&["INSERT", "UPDATE", "DELETE", "WITH"]),
        3,
        "packages, history and numbers as one, the carriage, the audit: {shape}"
    );
    // The statement wrote all of it.
    let (history, numbered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM status_events WHERE status = 'in_transit'), \
                (SELECT count(*) FROM package_events WHERE kind = 'status_changed')",
    )
    .fetch_one(&env.pool)
    .await
    .expect("count the history");
    assert_eq!((history, numbered), (PACKAGES as i64, PACKAGES as i64));
    let in_transit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM packages WHERE status = 'in_transit'")
            .fetch_one(&env.pool)
            .await
            .expect("count the packages");
    assert_eq!(in_transit, PACKAGES as i64);
    counted.close().await;
}
