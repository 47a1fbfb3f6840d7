//! The SQL side of a package window: lock and load, look up replays, write
//! back in as few statements as possible (`UNNEST` arrays, data-modifying
//! CTEs; see docs/PITFALLS.md: per-statement cost dominates, rows are nearly
//! free).

use super::window::{PackageRow, Plan, StatusRow, Window};
use chrono::{DateTime, Utc};
use shared::domain::PackageStatus;
use shared::packages::PackageView;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// A create lost a race with a create of the same tracking number that this
/// window did not see (two consumers overlapping during a failover).
#[derive(Debug, thiserror::Error)]
#[error("a package this window creates was created concurrently")]
pub struct CreateRaced;

#[derive(sqlx::FromRow)]
struct LockedRow {
    id: Uuid,
    tracking_number: String,
    status: String,
    current_location: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    version: i64,
    event_seq: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
    courier_ids: Vec<Uuid>,
    destination: Option<sqlx::types::Json<shared::domain::Coordinates>>,
    promised_by: Option<DateTime<Utc>>,
    plan_changed_at: Option<DateTime<Utc>>,
}

/// Locks the named packages (in id order, like the location pool, so the two
/// never deadlock) and loads their state.
pub async fn load_locked(
    tx: &mut PgConnection,
    tracking_numbers: &[&str],
) -> Result<Window, sqlx::Error> {
    let rows: Vec<LockedRow> = sqlx::query_as(&format!(
        "SELECT id, tracking_number, status, current_location, latitude, longitude, last_seen_at, \
                version, event_seq, updated_at, {} AS courier_ids, \
                destination, promised_by, plan_changed_at \
         FROM packages p WHERE tracking_number = ANY($1) ORDER BY id FOR UPDATE OF p",
        shared::auth::access::couriers_of_package("p")
    ))
    .bind(tracking_numbers)
    .fetch_all(&mut *tx)
    .await?;
    let mut packages = Vec::with_capacity(rows.len());
    for row in rows {
        let status: PackageStatus = row
            .status
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        packages.push((
            row.tracking_number,
            PackageRow {
                id: row.id,
                status,
                current_location: row.current_location,
                latitude: row.latitude,
                longitude: row.longitude,
                last_seen_at: row.last_seen_at,
                version: row.version,
                event_seq: row.event_seq,
                updated_at: row.updated_at,
                created: None,
                dirty: false,
                courier_ids: row.courier_ids,
                plan: Plan {
                    destination: row.destination.map(|d| d.0),
                    promised_by: row.promised_by,
                    changed_at: row.plan_changed_at,
                    promise_reset: false,
                    replanned: false,
                },
            },
        ));
    }
    Ok(Window::new(packages))
}

/// Which of these event ids were applied before, with the request
/// fingerprint each was applied with.
pub async fn applied_before(
    tx: &mut PgConnection,
    event_ids: &[Uuid],
) -> Result<HashMap<Uuid, Option<String>>, sqlx::Error> {
    let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT event_id, request_fingerprint FROM status_events WHERE event_id = ANY($1) \
         UNION ALL \
         SELECT event_id, request_fingerprint FROM plan_events WHERE event_id = ANY($1)",
    )
    .bind(event_ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Writes what the window changed: new packages first (the history names
/// them), then the changed packages, their status history and event numbers
/// in one statement ([`CHANGES`]), then plan changes.
pub async fn write(tx: &mut PgConnection, window: &Window) -> Result<(), StoreError> {
    insert_created(tx, window).await?;
    write_changes(tx, window).await?;
    super::plan::insert_plans(tx, &window.plan_rows).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Raced(#[from] CreateRaced),
}

/// The new packages' columns, one array each, for one `INSERT ... UNNEST`.
struct CreatedColumns<'a> {
    ids: Vec<Uuid>,
    text: [Vec<&'a str>; 5],
    statuses: Vec<&'a str>,
    locations: Vec<Option<&'a str>>,
    weights: Vec<Option<f64>>,
    descriptions: Vec<Option<&'a str>>,
    latitudes: Vec<Option<f64>>,
    longitudes: Vec<Option<f64>>,
    last_seen: Vec<Option<DateTime<Utc>>>,
    versions: Vec<i64>,
    seqs: Vec<i64>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    owners: Vec<Option<Uuid>>,
    recipient_emails: Vec<Option<&'a str>>,
    destinations: Vec<Option<sqlx::types::Json<shared::domain::Coordinates>>>,
    promised_by: Vec<Option<DateTime<Utc>>>,
}

impl<'a> CreatedColumns<'a> {
    fn of(created: &[(&'a PackageRow, &'a PackageView)]) -> Self {
        let views = || created.iter().map(|(_, v)| *v);
        let rows = || created.iter().map(|(r, _)| *r);
        let text = |f: fn(&PackageView) -> &str| views().map(f).collect::<Vec<_>>();
        Self {
            ids: rows().map(|r| r.id).collect(),
            text: [
                text(|v| &v.tracking_number),
                text(|v| &v.sender_name),
                text(|v| &v.sender_address),
                text(|v| &v.recipient_name),
                text(|v| &v.recipient_address),
            ],
            statuses: rows().map(|r| r.status.as_str()).collect(),
            locations: rows().map(|r| r.current_location.as_deref()).collect(),
            weights: views().map(|v| v.weight).collect(),
            descriptions: views().map(|v| v.description.as_deref()).collect(),
            latitudes: rows().map(|r| r.latitude).collect(),
            longitudes: rows().map(|r| r.longitude).collect(),
            last_seen: rows().map(|r| r.last_seen_at).collect(),
            versions: rows().map(|r| r.version).collect(),
            seqs: rows().map(|r| r.event_seq).collect(),
            created_at: views().map(|v| v.created_at).collect(),
            updated_at: rows().map(|r| r.updated_at).collect(),
            owners: views().map(|v| v.owner_id).collect(),
            recipient_emails: views().map(|v| v.recipient_email.as_deref()).collect(),
            destinations: views()
                .map(|v| v.destination.map(sqlx::types::Json))
                .collect(),
            promised_by: views().map(|v| v.promised_by).collect(),
        }
    }
}

async fn insert_created(tx: &mut PgConnection, window: &Window) -> Result<(), StoreError> {
    let created: Vec<(&PackageRow, &PackageView)> = window
        .packages
        .values()
        .filter_map(|row| row.created.as_deref().map(|view| (row, view)))
        .collect();
    if created.is_empty() {
        return Ok(());
    }
    let c = CreatedColumns::of(&created);
    let [tracking_numbers, sender_names, sender_addresses, recipient_names, recipient_addresses] =
        &c.text;
    let inserted = sqlx::query(
        "INSERT INTO packages (id, tracking_number, sender_name, sender_address, recipient_name, \
             recipient_address, status, current_location, weight, description, latitude, longitude, \
             last_seen_at, version, event_seq, created_at, updated_at, owner_id, recipient_email, \
             destination, promised_by, plan_changed_at) \
         SELECT *, v.created_at FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::float8[], $10::text[], $11::float8[], $12::float8[], \
             $13::timestamptz[], $14::int8[], $15::int8[], $16::timestamptz[], $17::timestamptz[], \
             $18::uuid[], $19::text[], $20::jsonb[], $21::timestamptz[]) \
             AS v(id, tn, sn, sa, rn, ra, status, loc, weight, descr, lat, lon, seen, version, seq, \
                  created_at, updated_at, owner, email, destination, promised_by) \
         ON CONFLICT (tracking_number) DO NOTHING",
    )
    .bind(&c.ids)
    .bind(tracking_numbers)
    .bind(sender_names)
    .bind(sender_addresses)
    .bind(recipient_names)
    .bind(recipient_addresses)
    .bind(&c.statuses)
    .bind(&c.locations)
    .bind(&c.weights)
    .bind(&c.descriptions)
    .bind(&c.latitudes)
    .bind(&c.longitudes)
    .bind(&c.last_seen)
    .bind(&c.versions)
    .bind(&c.seqs)
    .bind(&c.created_at)
    .bind(&c.updated_at)
    .bind(&c.owners)
    .bind(&c.recipient_emails)
    .bind(&c.destinations)
    .bind(&c.promised_by)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != created.len() as u64 {
        return Err(CreateRaced.into());
    }
    Ok(())
}

/// The changed packages' rows, their status history and its numbers: one
/// statement of data-modifying CTEs instead of three, one round trip and one
/// plan per window (per-statement cost dominates, docs/PERFORMANCE.md). No
/// part reads what another writes, and no trigger on the history tables
/// reads `packages`, so the parts see the same snapshot safely.
const CHANGES: &str = "WITH changed AS ( \
        UPDATE packages p SET status = v.status, current_location = v.location, \
            latitude = v.lat, longitude = v.lon, last_seen_at = v.seen, version = v.version, \
            event_seq = v.seq, updated_at = v.updated, \
            destination = v.destination, promised_by = v.promised_by, \
            plan_changed_at = v.plan_changed_at, \
            at_risk = p.at_risk AND NOT v.reset, \
            eta = CASE WHEN v.status = 'out_for_delivery' AND NOT v.replanned THEN p.eta END, \
            late_for = CASE WHEN v.reset THEN NULL ELSE p.late_for END, \
            changed_xid = pg_current_xact_id()::text::bigint \
        FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::float8[], $5::float8[], \
            $6::timestamptz[], $7::int8[], $8::int8[], $9::timestamptz[], $10::jsonb[], \
            $11::timestamptz[], $12::timestamptz[], $13::bool[], $14::bool[]) \
            AS v(id, status, location, lat, lon, seen, version, seq, updated, destination, \
                 promised_by, plan_changed_at, reset, replanned) \
        WHERE p.id = v.id \
        RETURNING p.id \
    ), history AS ( \
        INSERT INTO status_events (event_id, package_id, status, previous_status, location, \
            latitude, longitude, version, seq, principal, occurred_at, request_fingerprint) \
        SELECT * FROM UNNEST($15::uuid[], $16::uuid[], $17::text[], $18::text[], $19::text[], \
            $20::float8[], $21::float8[], $22::int8[], $23::int8[], $24::text[], \
            $25::timestamptz[], $26::text[]) \
        RETURNING package_id, seq, event_id, previous_status \
    ), numbered AS ( \
        INSERT INTO package_events (package_id, seq, event_id, kind) \
        SELECT package_id, seq, event_id, \
            CASE WHEN previous_status IS NULL THEN 'created' ELSE 'status_changed' END \
        FROM history \
        RETURNING 1 \
    ) \
    SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM numbered)";

async fn write_changes(tx: &mut PgConnection, window: &Window) -> Result<(), sqlx::Error> {
    let changed: Vec<&PackageRow> = window
        .packages
        .values()
        .filter(|row| row.dirty && row.created.is_none())
        .collect();
    let rows = &window.status_rows;
    if changed.is_empty() && rows.is_empty() {
        return Ok(());
    }
    let c = ChangedColumns::of(&changed);
    let h = HistoryColumns::of(rows);
    sqlx::query(CHANGES)
        .bind(&c.ids)
        .bind(&c.statuses)
        .bind(&c.locations)
        .bind(&c.latitudes)
        .bind(&c.longitudes)
        .bind(&c.last_seen)
        .bind(&c.versions)
        .bind(&c.seqs)
        .bind(&c.updated_at)
        .bind(&c.destinations)
        .bind(&c.promised_by)
        .bind(&c.plan_changed_at)
        .bind(&c.promise_reset)
        .bind(&c.replanned)
        .bind(&h.event_ids)
        .bind(&h.package_ids)
        .bind(&h.statuses)
        .bind(&h.previous)
        .bind(&h.locations)
        .bind(&h.latitudes)
        .bind(&h.longitudes)
        .bind(&h.versions)
        .bind(&h.seqs)
        .bind(&h.principals)
        .bind(&h.occurred)
        .bind(&h.fingerprints)
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// The changed packages' columns, one array each, for one `UPDATE ... UNNEST`.
struct ChangedColumns<'a> {
    ids: Vec<Uuid>,
    statuses: Vec<&'a str>,
    locations: Vec<Option<&'a str>>,
    latitudes: Vec<Option<f64>>,
    longitudes: Vec<Option<f64>>,
    last_seen: Vec<Option<DateTime<Utc>>>,
    versions: Vec<i64>,
    seqs: Vec<i64>,
    updated_at: Vec<DateTime<Utc>>,
    destinations: Vec<Option<sqlx::types::Json<shared::domain::Coordinates>>>,
    promised_by: Vec<Option<DateTime<Utc>>>,
    plan_changed_at: Vec<Option<DateTime<Utc>>>,
    promise_reset: Vec<bool>,
    /// The estimate was for another plan: cleared, the next fix makes one.
    replanned: Vec<bool>,
}

impl<'a> ChangedColumns<'a> {
    fn of(changed: &[&'a PackageRow]) -> Self {
        let rows = || changed.iter().copied();
        Self {
            ids: rows().map(|r| r.id).collect(),
            statuses: rows().map(|r| r.status.as_str()).collect(),
            locations: rows().map(|r| r.current_location.as_deref()).collect(),
            latitudes: rows().map(|r| r.latitude).collect(),
            longitudes: rows().map(|r| r.longitude).collect(),
            last_seen: rows().map(|r| r.last_seen_at).collect(),
            versions: rows().map(|r| r.version).collect(),
            seqs: rows().map(|r| r.event_seq).collect(),
            updated_at: rows().map(|r| r.updated_at).collect(),
            destinations: rows()
                .map(|r| r.plan.destination.map(sqlx::types::Json))
                .collect(),
            promised_by: rows().map(|r| r.plan.promised_by).collect(),
            plan_changed_at: rows().map(|r| r.plan.changed_at).collect(),
            promise_reset: rows().map(|r| r.plan.promise_reset).collect(),
            replanned: rows().map(|r| r.plan.replanned).collect(),
        }
    }
}

/// The status rows' columns, one array each (the `history` part of [`CHANGES`]).
struct HistoryColumns<'a> {
    event_ids: Vec<Uuid>,
    package_ids: Vec<Uuid>,
    statuses: Vec<&'a str>,
    previous: Vec<Option<&'a str>>,
    locations: Vec<Option<&'a str>>,
    latitudes: Vec<Option<f64>>,
    longitudes: Vec<Option<f64>>,
    versions: Vec<i64>,
    seqs: Vec<i64>,
    principals: Vec<Option<&'a str>>,
    occurred: Vec<DateTime<Utc>>,
    fingerprints: Vec<Option<&'a str>>,
}

impl<'a> HistoryColumns<'a> {
    fn of(rows: &'a [StatusRow]) -> Self {
        Self {
            event_ids: rows.iter().map(|r| r.event_id).collect(),
            package_ids: rows.iter().map(|r| r.package_id).collect(),
            statuses: rows.iter().map(|r| r.status.as_str()).collect(),
            previous: rows
                .iter()
                .map(|r| r.previous.map(PackageStatus::as_str))
                .collect(),
            locations: rows.iter().map(|r| r.location.as_deref()).collect(),
            latitudes: rows.iter().map(|r| r.latitude).collect(),
            longitudes: rows.iter().map(|r| r.longitude).collect(),
            versions: rows.iter().map(|r| r.version).collect(),
            seqs: rows.iter().map(|r| r.seq).collect(),
            principals: rows.iter().map(|r| r.principal.as_deref()).collect(),
            occurred: rows.iter().map(|r| r.occurred_at).collect(),
            fingerprints: rows.iter().map(|r| r.fingerprint.as_deref()).collect(),
        }
    }
}
