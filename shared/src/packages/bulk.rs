//! Packages written straight into PostgreSQL, many at once, for `dt-bench
//! scale` (here because SQL naming the packages tables lives with the flow).
//! The rows are what the package pool would have written for a created
//! package: the row and its creation event; every index and trigger runs.
//!
//! Filled packages are numbered without gaps under one prefix
//! (`{prefix}000000001`, ...), so a fill can say how far it got and go on.

use sqlx::PgPool;

/// The tracking number of the `n`th filled package (from 1).
pub fn numbered(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:09}")
}

/// How many packages numbered under `prefix` exist (by the last one).
pub async fn filled(pool: &PgPool, prefix: &str) -> Result<u64, sqlx::Error> {
    let last: Option<String> = sqlx::query_scalar(
        "SELECT max(tracking_number) FROM packages \
         WHERE tracking_number >= $1 AND tracking_number < $2",
    )
    .bind(prefix)
    .bind(format!("{prefix}~"))
    .fetch_one(pool)
    .await?;
    Ok(last
        .and_then(|tn| tn.strip_prefix(prefix).and_then(|n| n.parse().ok()))
        .unwrap_or(0))
}

/// Packages `first..=last` under `prefix`, in one transaction: most
/// delivered, the rest spread over the other statuses; created over the
/// past year; positions around New York.
pub async fn insert_numbered(
    pool: &PgPool,
    prefix: &str,
    first: u64,
    last: u64,
) -> Result<(), sqlx::Error> {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, \
             recipient_name, recipient_address, status, current_location, weight, \
             latitude, longitude, last_seen_at, version, event_seq, created_at, updated_at) \
         SELECT gen_random_uuid(), $3 || lpad(g::text, 9, '0'), 'Scale Sender', '1 Main St', \
             'Scale Recipient', '2 High St', \
             (ARRAY['delivered','delivered','delivered','delivered','delivered', \
                    'delivered','in_transit','out_for_delivery','pending','failed'])[1 + g % 10], \
             'Hub ' || (g % 50), 1.5, 40.5 + (g % 1000) / 2000.0, -74.2 + (g % 997) / 2000.0, \
             now() - make_interval(days => (g % 365)::int), 1, 1, \
             now() - make_interval(days => (g % 365)::int), \
             now() - make_interval(days => (g % 365)::int) \
         FROM generate_series($1::int8, $2::int8) g",
    )
    .bind(as_i64(first))
    .bind(as_i64(last))
    .bind(prefix)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO status_events (event_id, package_id, status, version, occurred_at, seq) \
         SELECT gen_random_uuid(), id, status, 1, created_at, 1 FROM packages \
         WHERE tracking_number BETWEEN $1 AND $2",
    )
    .bind(numbered(prefix, first))
    .bind(numbered(prefix, last))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Vacuums the tables a fill grew and refreshes the planner's statistics,
/// as autovacuum would after a while: measuring right after a bulk load
/// would otherwise measure plans made for a table a hundredth its size,
/// and share the cores with autovacuum working through the new rows (the
/// package flow varied twofold between runs at one size before).
pub async fn vacuum_analyze(pool: &PgPool) -> Result<(), sqlx::Error> {
    // VACUUM runs outside a transaction: one statement per call.
    for statement in [
        "VACUUM (ANALYZE) packages",
        "VACUUM (ANALYZE) status_events",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}
