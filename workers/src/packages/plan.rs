//! A package's plan in the window: where it goes and by when it was
//! promised (`PATCH /packages/{tn}`), next to its status.

use super::window::{rejected, Window};
use crate::outcome::Outcome;
use shared::wire::{Command, Envelope, PackageEvent, PlanChanged, RejectReason, UpdatePlan};

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
        package.version += 1;
        package.updated_at = package.updated_at.max(at);
        package.dirty = true;
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
