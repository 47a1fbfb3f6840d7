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
use sqlx::{PgConnection, PgPool};
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
    let mut tx = pool.begin().await?;
    let packages = lock(&mut tx, points).await?;
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
    let (heads, fresh) = assign(&packages, &known, &mut seqs);
    insert_numbers(&mut tx, &fresh).await?;
    let moved = advance(
        &mut tx,
        &packages,
        &heads,
        &super::newest_per_package(&known),
    )
    .await?;
    tx.commit().await?;
    Ok(Numbered {
        packages,
        seqs,
        moved,
    })
}

/// Locks the packages the points name (in id order, so concurrent windows
/// cannot deadlock), by tracking number.
async fn lock(
    tx: &mut PgConnection,
    points: &[&LocationPoint],
) -> Result<HashMap<String, Package>, sqlx::Error> {
    let mut tracking_numbers: Vec<&str> =
        points.iter().map(|p| p.tracking_number.as_str()).collect();
    tracking_numbers.sort_unstable();
    tracking_numbers.dedup();
    let locked: Vec<Package> = sqlx::query_as(
        "SELECT id, tracking_number, event_seq, last_seen_at FROM packages \
         WHERE tracking_number = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&tracking_numbers)
    .fetch_all(&mut *tx)
    .await?;
    Ok(locked
        .into_iter()
        .map(|p| (p.tracking_number.clone(), p))
        .collect())
}

/// A number given in this window: the package, the seq, the point.
type Fresh = (Uuid, i64, Uuid);

/// Numbers the points not numbered before (into `seqs`), in `recorded_at`
/// order per package, after each package's last number; returns each
/// package's last number afterwards, and the numbers given.
fn assign<'a>(
    packages: &'a HashMap<String, Package>,
    known: &[&LocationPoint],
    seqs: &mut HashMap<Uuid, i64>,
) -> (HashMap<&'a str, i64>, Vec<Fresh>) {
    let mut fresh: Vec<&LocationPoint> = known
        .iter()
        .copied()
        .filter(|p| !seqs.contains_key(&p.point_id))
        .collect();
    fresh.sort_by_key(|p| (p.recorded_at, p.point_id));
    let mut heads: HashMap<&str, i64> = packages
        .iter()
        .map(|(tn, p)| (tn.as_str(), p.event_seq))
        .collect();
    let mut given = Vec::with_capacity(fresh.len());
    for point in fresh {
        let tn = point.tracking_number.as_str();
        if let (Some(head), Some(package)) = (heads.get_mut(tn), packages.get(tn)) {
            *head += 1;
            seqs.insert(point.point_id, *head);
            given.push((package.id, *head, point.point_id));
        }
    }
    (heads, given)
}

/// Records the numbers given in this window.
async fn insert_numbers(tx: &mut PgConnection, fresh: &[Fresh]) -> Result<(), sqlx::Error> {
    if fresh.is_empty() {
        return Ok(());
    }
    let new_package: Vec<Uuid> = fresh.iter().map(|f| f.0).collect();
    let new_seq: Vec<i64> = fresh.iter().map(|f| f.1).collect();
    let new_point: Vec<Uuid> = fresh.iter().map(|f| f.2).collect();
    sqlx::query(
        "INSERT INTO package_events (package_id, seq, event_id, kind) \
         SELECT p, s, e, 'location' FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[]) AS v(p, s, e)",
    )
    .bind(&new_package)
    .bind(&new_seq)
    .bind(&new_point)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// One row per package that changes: its new last number and, when the
/// window holds a point newer than its stored position, that point.
/// Returns the packages whose position moved, with their new version.
async fn advance(
    tx: &mut PgConnection,
    packages: &HashMap<String, Package>,
    heads: &HashMap<&str, i64>,
    newest: &HashMap<&str, &LocationPoint>,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let (mut ids, mut seq_after, mut moves) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lats, mut lons, mut times, mut point_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (tn, package) in packages {
        let Some(point) = newest.get(tn.as_str()) else {
            continue;
        };
        let seq = heads[tn.as_str()];
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
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, bool)> = sqlx::query_as(
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
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(tn, version, moved)| moved.then_some((tn, version)))
        .collect())
}
