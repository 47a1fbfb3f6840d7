//! A package's plan in the window: where it goes and by when it was
//! promised (`PATCH /packages/{tn}`), next to its status.

use super::window::{rejected, PlanRow, Window};
use crate::outcome::Outcome;
use chrono::{DateTime, Utc};
use shared::wire::{Command, Envelope, PackageEvent, PlanChanged, RejectReason, UpdatePlan};
use sqlx::PgConnection;
use uuid::Uuid;

impl Window {
    /// A new destination or promise. A change older than the last one
    /// (re-driven from the dead letters) is refused rather than undo it;
    /// applied twice, a change leaves the same plan.
    pub(super) fn update_plan(
        &mut self,
        envelope: &Envelope<Command>,
        command: &UpdatePlan,
    ) -> Outcome {
        let tn = &command.tracking_number;
        let Some(package) = self.packages.get_mut(tn.as_str()) else {
            return Outcome::unchanged(rejected(
                tn,
                RejectReason::NotFound,
                format!("package {tn} not found"),
            ));
        };
        let at = envelope.occurred_at;
        if package.plan.changed_at.is_some_and(|changed| changed > at) {
            return Outcome::unchanged(rejected(
                tn,
                RejectReason::Conflict,
                "the package's plan changed after this request; load it and try again".into(),
            ));
        }
        let plan = &mut package.plan;
        plan.destination = command.destination.applied_to(plan.destination);
        let promised_by = command.promised_by.applied_to(plan.promised_by);
        plan.promise_reset |= promised_by != plan.promised_by;
        plan.promised_by = promised_by;
        plan.changed_at = Some(at);
        plan.replanned = true;
        package.version += 1;
        package.updated_at = package.updated_at.max(at);
        package.dirty = true;
        self.plan_rows.push(PlanRow {
            event_id: envelope.event_id,
            package_id: package.id,
            fingerprint: envelope.fingerprint.clone(),
            destination: package.plan.destination,
            promised_by: package.plan.promised_by,
            version: package.version,
            occurred_at: at,
        });
        Outcome {
            event: PackageEvent::PlanChanged(PlanChanged {
                tracking_number: tn.clone(),
                destination: package.plan.destination,
                promised_by: package.plan.promised_by,
                version: package.version,
            })
            .into(),
            changed_version: Some(package.version),
            carried_off: Vec::new(),
        }
    }
}

/// The plan changes' outcomes, so a command seen again is recognised.
pub(super) async fn insert_plans(
    tx: &mut PgConnection,
    rows: &[PlanRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&PlanRow) -> Uuid| rows.iter().map(f).collect::<Vec<_>>();
    let fingerprints: Vec<Option<&str>> = rows.iter().map(|r| r.fingerprint.as_deref()).collect();
    let destinations: Vec<_> = rows
        .iter()
        .map(|r| r.destination.map(sqlx::types::Json))
        .collect();
    let promised: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.promised_by).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let occurred: Vec<DateTime<Utc>> = rows.iter().map(|r| r.occurred_at).collect();
    sqlx::query(
        "INSERT INTO plan_events (event_id, package_id, request_fingerprint, destination, \
             promised_by, version, occurred_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], \
             $5::timestamptz[], $6::int8[], $7::timestamptz[]) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(column(|r| r.event_id))
    .bind(column(|r| r.package_id))
    .bind(&fingerprints)
    .bind(&destinations)
    .bind(&promised)
    .bind(&versions)
    .bind(&occurred)
    .execute(&mut *tx)
    .await
    .map(drop)
}
