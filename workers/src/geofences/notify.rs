//! What happened becomes notices: numbered package notices (the package's
//! next `seq`, in `package_events` and `package_notices`) and courier
//! notices (`courier_notices`), each with an id derived from the fix, the
//! subject, the zone and the kind, so it is the same id whoever computes it.
//! After the transaction, the notices of a window's fixes are read back by
//! their points: a redelivered window announces the same notices again.

use super::evaluate::Happened;
use chrono::{DateTime, Utc};
use shared::couriers::CourierNotice;
use shared::domain::TrackingNumber;
use shared::geofences::Transition;
use shared::packages::notices::{Notice, PackageNotice, ZoneEvent};
use sqlx::{PgConnection, PgExecutor};
use std::collections::HashMap;
use uuid::Uuid;

/// A package notice before it has its number.
#[derive(Debug, Clone)]
pub struct Draft {
    pub package_id: Uuid,
    pub event_id: Uuid,
    pub point_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub notice: Notice,
}

/// A courier notice and the fix that decided it.
#[derive(Debug, Clone)]
pub struct CourierDraft {
    pub point_id: Uuid,
    pub notice: CourierNotice,
}

/// The notice one transition makes for one subject; `located`: whether
/// the subject's watchers may see where it happened.
pub fn notice_of(
    subject: Uuid,
    happened: &Happened,
    located: bool,
) -> (Uuid, DateTime<Utc>, Notice) {
    let (occurred_at, since) = match happened.transition {
        Transition::Entered { at } => (happened.point.fix.recorded_at, Some(at)),
        Transition::Exited { at } => (happened.point.fix.recorded_at, Some(at)),
        Transition::Dwelled { since, at } => (at, Some(since)),
        Transition::Crossed { at } => (at, None),
    };
    let at = happened.point.fix.at;
    let event = ZoneEvent {
        zone_id: happened.zone.id,
        zone_name: happened.zone.name.clone(),
        latitude: located.then(|| at.latitude()),
        longitude: located.then(|| at.longitude()),
        since,
    };
    let notice = match happened.transition {
        Transition::Entered { .. } => Notice::GeofenceEntered(event),
        Transition::Exited { .. } => Notice::GeofenceExited(event),
        Transition::Dwelled { .. } => Notice::GeofenceDwelled(event),
        Transition::Crossed { .. } => Notice::GeofenceCrossed(event),
    };
    let name = format!(
        "{subject}:{}:{}",
        happened.zone.id,
        happened.transition.kind()
    );
    let event_id = Uuid::new_v5(&happened.point.point_id, name.as_bytes());
    (event_id, occurred_at, notice)
}

/// Which of the drafts were numbered before (a window applied twice).
async fn numbered_before(
    tx: &mut PgConnection,
    drafts: &[Draft],
) -> Result<std::collections::HashSet<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = drafts.iter().map(|d| d.event_id).collect();
    let known: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM package_events WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    Ok(known.into_iter().collect())
}

/// Numbers and stores package notices (packages locked in id order, after
/// the subjects); returns the packages whose view changed, with their new
/// version.
pub async fn record_packages(
    tx: &mut PgConnection,
    drafts: &[Draft],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let known = numbered_before(tx, drafts).await?;
    let mut fresh: Vec<&Draft> = drafts
        .iter()
        .filter(|d| !known.contains(&d.event_id))
        .collect();
    fresh.sort_by_key(|d| (d.package_id, d.occurred_at, d.event_id));
    fresh.dedup_by_key(|d| d.event_id);
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<Uuid> = fresh.iter().map(|d| d.package_id).collect();
    ids.dedup();
    let mut heads: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT id, event_seq FROM packages WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut numbered = Numbered::default();
    for draft in fresh {
        if let Some(head) = heads.get_mut(&draft.package_id) {
            *head += 1;
            numbered.push(draft, *head);
        }
    }
    numbered.insert(tx).await?;
    let (ids, heads): (Vec<Uuid>, Vec<i64>) = heads.into_iter().unzip();
    sqlx::query_as(
        "UPDATE packages p SET event_seq = v.seq, version = p.version + 1 \
         FROM UNNEST($1::uuid[], $2::int8[]) AS v(id, seq) WHERE p.id = v.id \
         RETURNING p.tracking_number, p.version",
    )
    .bind(&ids)
    .bind(&heads)
    .fetch_all(&mut *tx)
    .await
}

/// Numbered notices as the columns of `package_events` and `package_notices`.
#[derive(Default)]
struct Numbered {
    packages: Vec<Uuid>,
    seqs: Vec<i64>,
    events: Vec<Uuid>,
    kinds: Vec<&'static str>,
    data: Vec<sqlx::types::Json<Notice>>,
    times: Vec<DateTime<Utc>>,
    points: Vec<Uuid>,
}

impl Numbered {
    fn push(&mut self, draft: &Draft, seq: i64) {
        self.packages.push(draft.package_id);
        self.seqs.push(seq);
        self.events.push(draft.event_id);
        self.kinds.push(draft.notice.kind());
        self.data.push(sqlx::types::Json(draft.notice.clone()));
        self.times.push(draft.occurred_at);
        self.points.push(draft.point_id);
    }

    async fn insert(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO package_events (package_id, seq, event_id, kind) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[])",
        )
        .bind(&self.packages)
        .bind(&self.seqs)
        .bind(&self.events)
        .bind(&self.kinds)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO package_notices (package_id, seq, event_id, kind, data, occurred_at, point_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::jsonb[], $6::timestamptz[], $7::uuid[])",
        )
        .bind(&self.packages)
        .bind(&self.seqs)
        .bind(&self.events)
        .bind(&self.kinds)
        .bind(&self.data)
        .bind(&self.times)
        .bind(&self.points)
        .execute(&mut *tx)
        .await
        .map(drop)
    }
}

/// Moves on the version of those of these subjects that are packages (their
/// cached views are stale); returns their tracking numbers and versions.
pub async fn touch(
    db: impl PgExecutor<'_>,
    subjects: &[Uuid],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "UPDATE packages SET version = version + 1 WHERE id = ANY($1) \
         RETURNING tracking_number, version",
    )
    .bind(subjects)
    .fetch_all(db)
    .await
}

pub async fn record_couriers(
    tx: &mut PgConnection,
    drafts: &[CourierDraft],
) -> Result<(), sqlx::Error> {
    if drafts.is_empty() {
        return Ok(());
    }
    let events: Vec<Uuid> = drafts.iter().map(|d| d.notice.event_id).collect();
    let couriers: Vec<Uuid> = drafts.iter().map(|d| d.notice.courier_id).collect();
    let kinds: Vec<&str> = drafts.iter().map(|d| d.notice.notice.kind()).collect();
    let data: Vec<_> = drafts
        .iter()
        .map(|d| sqlx::types::Json(d.notice.notice.clone()))
        .collect();
    let times: Vec<DateTime<Utc>> = drafts.iter().map(|d| d.notice.occurred_at).collect();
    let points: Vec<Uuid> = drafts.iter().map(|d| d.point_id).collect();
    sqlx::query(
        "INSERT INTO courier_notices (event_id, courier_id, kind, data, occurred_at, point_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[], $6::uuid[]) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&events)
    .bind(&couriers)
    .bind(&kinds)
    .bind(&data)
    .bind(&times)
    .bind(&points)
    .execute(&mut *tx)
    .await
    .map(drop)
}

#[derive(sqlx::FromRow)]
struct StoredPackageNotice {
    tracking_number: String,
    #[sqlx(flatten)]
    row: shared::packages::notices::NoticeRow,
}

/// The package notices of these kinds and the courier notices the fixes
/// decided, now or before.
pub async fn decided_by(
    db: impl PgExecutor<'_> + Copy,
    points: &[Uuid],
    kinds: &[&str],
) -> Result<(Vec<PackageNotice>, Vec<CourierNotice>), sqlx::Error> {
    let stored: Vec<StoredPackageNotice> = sqlx::query_as(
        "SELECT p.tracking_number, n.package_id, n.seq, n.event_id, n.data, n.occurred_at \
         FROM package_notices n JOIN packages p ON p.id = n.package_id \
         WHERE n.point_id = ANY($1) AND n.kind = ANY($2) ORDER BY n.package_id, n.seq",
    )
    .bind(points)
    .bind(kinds)
    .fetch_all(db)
    .await?;
    let packages = stored
        .into_iter()
        .filter_map(|s| {
            Some(
                s.row
                    .notice(TrackingNumber::parse(&s.tracking_number).ok()?),
            )
        })
        .collect();
    let couriers: Vec<(Uuid, Uuid, sqlx::types::Json<Notice>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT event_id, courier_id, data, occurred_at FROM courier_notices \
         WHERE point_id = ANY($1) ORDER BY occurred_at, event_id",
    )
    .bind(points)
    .fetch_all(db)
    .await?;
    let couriers = couriers
        .into_iter()
        .map(|(event_id, courier_id, data, occurred_at)| CourierNotice {
            courier_id,
            event_id,
            occurred_at,
            notice: data.0,
        })
        .collect();
    Ok((packages, couriers))
}
