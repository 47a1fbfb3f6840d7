//! Numbering location points in their package's event sequence.
//!
//! A point keeps the number it got the first time (`package_events.event_id`
//! is unique), so a redelivered batch renumbers nothing; new points take the
//! next numbers in `recorded_at` order. The package rows are locked (in id
//! order, so concurrent workers cannot deadlock) while numbers are handed out,
//! which also serialises them with status changes.

use shared::wire::LocationPoint;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

pub async fn number(
    pool: &PgPool,
    points: &[&LocationPoint],
    packages: &HashMap<String, Uuid>,
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    if points.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = pool.begin().await?;
    let mut package_ids: Vec<Uuid> = packages.values().copied().collect();
    package_ids.sort_unstable();
    let current: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, event_seq FROM packages WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&package_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut next: HashMap<Uuid, i64> = current.into_iter().collect();

    let point_ids: Vec<Uuid> = points.iter().map(|p| p.point_id).collect();
    let known: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT event_id, seq FROM package_events WHERE event_id = ANY($1)")
            .bind(&point_ids)
            .fetch_all(&mut *tx)
            .await?;
    let mut numbers: HashMap<Uuid, i64> = known.into_iter().collect();

    let mut fresh: Vec<&LocationPoint> = points
        .iter()
        .copied()
        .filter(|p| !numbers.contains_key(&p.point_id))
        .collect();
    fresh.sort_by_key(|p| (p.recorded_at, p.point_id));
    fresh.dedup_by_key(|p| p.point_id);
    let (mut rows_package, mut rows_seq, mut rows_event) = (Vec::new(), Vec::new(), Vec::new());
    for point in fresh {
        let Some(&package_id) = packages.get(point.tracking_number.as_str()) else {
            continue;
        };
        let seq = next.entry(package_id).or_insert(0);
        *seq += 1;
        numbers.insert(point.point_id, *seq);
        rows_package.push(package_id);
        rows_seq.push(*seq);
        rows_event.push(point.point_id);
    }
    if !rows_event.is_empty() {
        sqlx::query(
            "INSERT INTO package_events (package_id, seq, event_id, kind) \
             SELECT p, s, e, 'location' FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[]) AS v(p, s, e)",
        )
        .bind(&rows_package)
        .bind(&rows_seq)
        .bind(&rows_event)
        .execute(&mut *tx)
        .await?;
        let (ids, seqs): (Vec<Uuid>, Vec<i64>) = next.into_iter().unzip();
        sqlx::query(
            "UPDATE packages p SET event_seq = v.seq FROM UNNEST($1::uuid[], $2::int8[]) AS v(id, seq) \
             WHERE p.id = v.id AND p.event_seq < v.seq",
        )
        .bind(&ids)
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(numbers)
}
