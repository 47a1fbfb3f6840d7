//! Package counts (`GET /api/v1/stats`) come from counters the table's
//! triggers keep, folded by the package pool: at every moment they equal a
//! count of the table in the same snapshot, while many writers create and
//! move packages and several folds race; whoever writes the table (the
//! workers, or a bulk load straight into PostgreSQL) is counted.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use testkit::app::{package_body, tracking_number, TestApp};

/// The counts as `/stats` computes them, and the table counted, in one
/// snapshot.
async fn counted_and_true(pool: &sqlx::PgPool) -> (Value, Value) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .unwrap();
    let counted = shared::packages::reads::counts(&mut *tx).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM packages GROUP BY status")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let today: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM packages \
         WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut statuses: BTreeMap<String, i64> = shared::domain::PackageStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    statuses.extend(rows);
    let truth = json!({
        "total_packages": statuses.values().sum::<i64>(),
        "packages_today": today,
        "status_counts": statuses,
    });
    (serde_json::to_value(counted).unwrap(), truth)
}

#[tokio::test]
async fn counts_equal_the_table_at_every_moment_under_concurrent_writes_and_folds() {
    let app = Arc::new(TestApp::spawn().await);
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..12 {
        let app = app.clone();
        writers.spawn(async move {
            for round in 0..5 {
                let tn = tracking_number();
                let created = app.post_json("/packages", &package_body(&tn)).await;
                assert_eq!(created.status(), 201);
                app.status_changed(&tn, json!({"status": "in_transit"}))
                    .await;
                let last = if (writer + round) % 3 == 0 {
                    "cancelled"
                } else {
                    "out_for_delivery"
                };
                app.status_changed(&tn, json!({"status": last})).await;
            }
        });
    }
    // Folds racing the workers' own, and snapshots compared all along.
    let pool = app.env.pool.clone();
    let mut compared = 0;
    while !writers.is_empty() {
        workers::packages::counts::fold(&pool).await.unwrap();
        let (counted, truth) = counted_and_true(&pool).await;
        assert_eq!(counted, truth, "mid-write");
        compared += 1;
        if let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
    }
    assert!(compared > 1);
    let (counted, truth) = counted_and_true(&pool).await;
    assert_eq!(counted, truth);
    assert_eq!(truth["total_packages"], 60);
    assert_eq!(truth["status_counts"]["cancelled"], 20);
    let stats: Value = app.get("/stats").await.json().await.unwrap();
    assert_eq!(stats["total_packages"], 60);
    assert_eq!(stats["packages_today"], 60);
    assert_eq!(stats["status_counts"], truth["status_counts"]);
    Arc::into_inner(app)
        .expect("the writers are done")
        .shutdown()
        .await;
}

#[tokio::test]
async fn rows_written_straight_into_the_table_are_counted_and_a_truncate_starts_over() {
    let app = TestApp::spawn().await;
    let pool = &app.env.pool;
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, \
             recipient_address, weight, status, created_at, updated_at) \
         SELECT gen_random_uuid(), 'BULK' || lpad(g::text, 8, '0'), 's', 'a', 'r', 'b', 1, \
             CASE WHEN g % 4 = 0 THEN 'delivered' ELSE 'pending' END, \
             now() - (g % 2) * interval '3 days', now() \
         FROM generate_series(1, 1000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE packages SET status = 'failed' WHERE tracking_number <= 'BULK00000010'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM packages WHERE tracking_number > 'BULK00000990'")
        .execute(pool)
        .await
        .unwrap();
    let (counted, truth) = counted_and_true(pool).await;
    assert_eq!(counted, truth);
    assert_eq!(truth["total_packages"], 990);
    assert_eq!(truth["packages_today"], 495);
    workers::packages::counts::fold(pool).await.unwrap();
    let (counted, _) = counted_and_true(pool).await;
    assert_eq!(counted, truth, "folded");
    let unfolded: i64 = sqlx::query_scalar("SELECT count(*) FROM package_count_changes")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(unfolded, 0);

    sqlx::query("TRUNCATE packages CASCADE")
        .execute(pool)
        .await
        .unwrap();
    let (counted, truth) = counted_and_true(pool).await;
    assert_eq!(counted, truth);
    assert_eq!(truth["total_packages"], 0);
    app.shutdown().await;
}
