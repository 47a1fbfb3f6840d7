//! The PostgreSQL side of a location window, in one transaction: number the
//! new points in their packages' event sequences and move each package's
//! latest position forward (marking it for the MongoDB projection,
//! [`super::projection`]).
//!
//! A point keeps the number it got the first time (`package_events.event_id`
//! is unique), so a redelivered point renumbers nothing; new points take the
//! next numbers in `recorded_at` order. The package rows are locked (in id
//! order, so concurrent windows cannot deadlock) for the whole transaction,
//! which also serialises numbering with status changes.

use chrono::{DateTime, Utc};
use shared::wire::LocationPoint;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// A package the window's points name, as locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Package {
    pub id: Uuid,
    pub tracking_number: String,
    event_seq: i64,
    last_seen_at: Option<DateTime<Utc>>,
}

/// What the transaction decided.
pub struct Numbered {
    /// By tracking number: the packages that exist.
    pub packages: HashMap<String, Package>,
    /// Each known point's number, by point id.
    pub seqs: HashMap<Uuid, i64>,
    /// Packages whose latest position moved, with their new version.
    pub moved: HashMap<String, i64>,
}

pub async fn number(pool: &PgPool, points: &[&LocationPoint]) -> Result<Numbered, sqlx::Error> {
    let mut tracking_numbers: Vec<&str> =
        points.iter().map(|p| p.tracking_number.as_str()).collect();
    tracking_numbers.sort_unstable();
    tracking_numbers.dedup();
    let mut tx = pool.begin().await?;
    let locked: Vec<Package> = sqlx::query_as(
        "SELECT id, tracking_number, event_seq, last_seen_at FROM packages \
         WHERE tracking_number = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&tracking_numbers)
    .fetch_all(&mut *tx)
    .await?;
    let packages: HashMap<String, Package> = locked
        .into_iter()
        .map(|p| (p.tracking_number.clone(), p))
        .collect();
    let known: Vec<&LocationPoint> = points
        .iter()
        .copied()
        .filter(|p| packages.contains_key(p.tracking_number.as_str()))
        .collect();
    if known.is_empty() {
        tx.rollback().await?;
        return Ok(Numbered {
            packages,
            seqs: HashMap::new(),
            moved: HashMap::new(),
        });
    }

    let point_ids: Vec<Uuid> = known.iter().map(|p| p.point_id).collect();
    let numbered_before: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT event_id, seq FROM package_events WHERE event_id = ANY($1)")
            .bind(&point_ids)
            .fetch_all(&mut *tx)
            .await?;
    let mut seqs: HashMap<Uuid, i64> = numbered_before.into_iter().collect();

    let mut fresh: Vec<&LocationPoint> = known
        .iter()
        .copied()
        .filter(|p| !seqs.contains_key(&p.point_id))
        .collect();
    fresh.sort_by_key(|p| (p.recorded_at, p.point_id));
    let mut next: HashMap<&str, i64> = packages
        .iter()
        .map(|(tn, p)| (tn.as_str(), p.event_seq))
        .collect();
    let (mut new_package, mut new_seq, mut new_point) = (Vec::new(), Vec::new(), Vec::new());
    for point in fresh {
        let tn = point.tracking_number.as_str();
        let seq = next.entry(tn).or_default();
        *seq += 1;
        seqs.insert(point.point_id, *seq);
        new_package.push(packages[tn].id);
        new_seq.push(*seq);
        new_point.push(point.point_id);
    }
    if !new_point.is_empty() {
        sqlx::query(
            "INSERT INTO package_events (package_id, seq, event_id, kind) \
             SELECT p, s, e, 'location' FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[]) AS v(p, s, e)",
        )
        .bind(&new_package)
        .bind(&new_seq)
        .bind(&new_point)
        .execute(&mut *tx)
        .await?;
    }

    // One row per package that changes: its new event_seq and, when the
    // window holds a point newer than its stored position, that point.
    let newest = super::newest_per_package(&known);
    let (mut ids, mut seq_after, mut moves) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lats, mut lons, mut times, mut point_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (tn, package) in &packages {
        let Some(point) = newest.get(tn.as_str()) else {
            continue;
        };
        let seq = next[tn.as_str()];
        let newer = package
            .last_seen_at
            .is_none_or(|seen| seen < point.recorded_at);
        if seq == package.event_seq && !newer {
            continue;
        }
        ids.push(package.id);
        seq_after.push(seq);
        moves.push(newer);
        lats.push(point.coordinates.latitude());
        lons.push(point.coordinates.longitude());
        times.push(point.recorded_at);
        point_ids.push(point.point_id);
    }
    let moved: Vec<(String, i64)> = if ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "UPDATE packages p SET event_seq = v.seq, \
                 latitude = CASE WHEN v.moves THEN v.lat ELSE p.latitude END, \
                 longitude = CASE WHEN v.moves THEN v.lon ELSE p.longitude END, \
                 last_seen_at = CASE WHEN v.moves THEN v.t ELSE p.last_seen_at END, \
                 position_point_id = CASE WHEN v.moves THEN v.point ELSE p.position_point_id END, \
                 position_pending = p.position_pending OR v.moves, \
                 version = p.version + CASE WHEN v.moves THEN 1 ELSE 0 END, \
                 updated_at = CASE WHEN v.moves THEN GREATEST(p.updated_at, v.t) ELSE p.updated_at END, \
                 changed_xid = pg_current_xact_id()::text::bigint \
             FROM UNNEST($1::uuid[], $2::int8[], $3::bool[], $4::float8[], $5::float8[], $6::timestamptz[], $7::uuid[]) \
                 AS v(id, seq, moves, lat, lon, t, point) \
             WHERE p.id = v.id \
             RETURNING p.tracking_number, p.version, v.moves",
        )
        .bind(&ids)
        .bind(&seq_after)
        .bind(&moves)
        .bind(&lats)
        .bind(&lons)
        .bind(&times)
        .bind(&point_ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .filter_map(|(tn, version, moved): (String, i64, bool)| moved.then_some((tn, version)))
        .collect()
    };
    tx.commit().await?;
    Ok(Numbered {
        packages,
        seqs,
        moved: moved.into_iter().collect(),
    })
}
