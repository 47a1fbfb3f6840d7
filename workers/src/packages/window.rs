//! Applying a window of package commands in memory, in queue order.
//!
//! The packages the window names are loaded (and locked) first; each command
//! then runs against that in-memory state exactly as it would against the
//! database, one after the other, so a create followed by a status update in
//! the same window sees the package it created. What changed is written back
//! afterwards in one statement per table ([`super::store`]).

use crate::outcome::Outcome;
use chrono::{DateTime, Utc};
use shared::auth::policy::{self, Action, Decision, PackageAccess};
use shared::auth::Caller;
use shared::domain::{PackageStatus, TrackingNumber};
use shared::packages::PackageView;
use shared::wire::{
    AccountOutcome, Command, CreatePackage, Envelope, Event, PackageCreated, PackageEvent,
    RejectReason, StatusChanged, UpdateStatus,
};
use std::collections::HashMap;
use uuid::Uuid;

/// A package's row as the window sees it.
#[derive(Debug, Clone)]
pub struct PackageRow {
    pub id: Uuid,
    pub status: PackageStatus,
    pub current_location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub event_seq: i64,
    pub updated_at: DateTime<Utc>,
    /// The full view, for a package created in this window (inserted, not updated).
    pub created: Option<Box<PackageView>>,
    /// Whether the window changed it.
    pub dirty: bool,
    /// Couriers with an active delivery of it (the policy's input).
    pub courier_ids: Vec<Uuid>,
    pub plan: Plan,
}

/// Where a package goes and by when it was promised.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub destination: Option<shared::domain::Coordinates>,
    pub promised_by: Option<DateTime<Utc>>,
    /// When it last changed (an older change does not apply).
    pub changed_at: Option<DateTime<Utc>>,
    /// The promise changed: at-risk and late start a new episode.
    pub promise_reset: bool,
    /// The window changed the plan: the estimate made for the old one goes.
    pub replanned: bool,
}

/// One `plan_events` row to insert: a plan change's outcome.
#[derive(Debug, Clone)]
pub struct PlanRow {
    pub event_id: Uuid,
    pub package_id: Uuid,
    pub fingerprint: Option<String>,
    pub destination: Option<shared::domain::Coordinates>,
    pub promised_by: Option<DateTime<Utc>>,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
}

/// One `status_events` row to insert.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub event_id: Uuid,
    pub package_id: Uuid,
    pub status: PackageStatus,
    pub previous: Option<PackageStatus>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub version: i64,
    pub seq: i64,
    pub principal: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub fingerprint: Option<String>,
}

/// The in-memory state of one window.
#[derive(Default)]
pub struct Window {
    /// By tracking number: the packages the window names that exist.
    pub packages: HashMap<String, PackageRow>,
    pub status_rows: Vec<StatusRow>,
    pub plan_rows: Vec<PlanRow>,
}

impl Window {
    pub fn new(packages: impl IntoIterator<Item = (String, PackageRow)>) -> Self {
        Self {
            packages: packages.into_iter().collect(),
            status_rows: Vec::new(),
            plan_rows: Vec::new(),
        }
    }

    /// Whether the window changed anything to write (a plan change writes
    /// no history row).
    pub fn changed(&self) -> bool {
        !self.status_rows.is_empty() || self.packages.values().any(|row| row.dirty)
    }

    /// Applies one new command (not seen before) to the window's state,
    /// if the principal in its envelope may: ingest asked the same policy,
    /// so a refusal here means a replayed message, or one published past
    /// ingest naming someone who lacks the right.
    pub fn apply(&mut self, envelope: &Envelope<Command>) -> Outcome {
        let caller = Caller::from_principal(&envelope.principal);
        match &envelope.body {
            Command::CreatePackage(command) => self
                .refusal(
                    caller.as_ref(),
                    Action::CreatePackage,
                    &command.tracking_number,
                )
                .unwrap_or_else(|| self.create(envelope, command)),
            Command::UpdateStatus(command) => self
                .refusal(
                    caller.as_ref(),
                    Action::UpdateStatus,
                    &command.tracking_number,
                )
                .unwrap_or_else(|| self.update_status(envelope, command)),
            Command::UpdatePlan(command) => self
                .refusal(
                    caller.as_ref(),
                    Action::UpdatePlan,
                    &command.tracking_number,
                )
                .unwrap_or_else(|| self.update_plan(envelope, command)),
            // Account and delivery commands are applied by their own modules.
            _ => Outcome::unchanged(Event::Account(AccountOutcome::AccountRejected {
                reason: RejectReason::Conflict,
                message: "not a package command".into(),
            })),
        }
    }

    /// Why the envelope's caller may not act on this package of the window,
    /// if they may not (an unknown package is left to the command to reject).
    fn refusal(
        &self,
        caller: Option<&Caller>,
        action: Action,
        tracking_number: &TrackingNumber,
    ) -> Option<Outcome> {
        let Some(caller) = caller else {
            return Some(Outcome::unchanged(rejected(
                tracking_number,
                RejectReason::Forbidden,
                "the command names no account".into(),
            )));
        };
        let access = self
            .packages
            .get(tracking_number.as_str())
            .map(|row| PackageAccess {
                owner_id: row.created.as_ref().and_then(|v| v.owner_id),
                recipient_email: None,
                courier_ids: row.courier_ids.clone(),
            });
        match policy::decide(caller, action, access.as_ref()) {
            Decision::Allow => None,
            Decision::Forbidden => Some(Outcome::unchanged(rejected(
                tracking_number,
                RejectReason::Forbidden,
                format!("a {} may not do this", caller.role),
            ))),
            Decision::Hidden => Some(Outcome::unchanged(rejected(
                tracking_number,
                RejectReason::NotFound,
                format!("package {tracking_number} not found"),
            ))),
        }
    }

    fn create(&mut self, envelope: &Envelope<Command>, command: &CreatePackage) -> Outcome {
        let tn = command.tracking_number.as_str();
        if self.packages.contains_key(tn) {
            return Outcome::unchanged(rejected(
                &command.tracking_number,
                RejectReason::Conflict,
                format!("tracking number {tn} already exists"),
            ));
        }
        let view = new_view(command, envelope.occurred_at);
        let row = PackageRow::created(view.clone());
        self.status_rows
            .push(StatusRow::of(envelope, &row, None, None, None));
        self.packages.insert(tn.to_owned(), row);
        Outcome {
            event: PackageEvent::PackageCreated(PackageCreated { package: view }).into(),
            changed_version: Some(1),
            carried_off: Vec::new(),
        }
    }

    fn update_status(&mut self, envelope: &Envelope<Command>, command: &UpdateStatus) -> Outcome {
        let tn = &command.tracking_number;
        let Some(package) = self.packages.get_mut(tn.as_str()) else {
            return Outcome::unchanged(rejected(
                tn,
                RejectReason::NotFound,
                format!("package {tn} not found"),
            ));
        };
        let previous = package.status;
        if let Err(refused) = previous.transition(command.status) {
            return Outcome::unchanged(rejected(tn, RejectReason::Conflict, refused.to_string()));
        }
        let at = envelope.occurred_at;
        let location = command.location.as_ref().map(|l| l.as_str().to_owned());
        package.change_status(command, location.as_deref(), at);
        let (coordinates, version, seq) = (command.coordinates, package.version, package.event_seq);
        let row = StatusRow::of(
            envelope,
            package,
            Some(previous),
            location.clone(),
            coordinates,
        );
        self.status_rows.push(row);
        Outcome {
            event: PackageEvent::StatusChanged(StatusChanged {
                package_id: package.id,
                tracking_number: tn.clone(),
                previous,
                status: command.status,
                location,
                coordinates,
                version,
                seq,
                changed_at: at,
            })
            .into(),
            changed_version: Some(version),
            carried_off: Vec::new(),
        }
    }
}

impl PackageRow {
    /// The row of a package this window creates.
    fn created(view: PackageView) -> Self {
        Self {
            id: view.id,
            status: view.status,
            current_location: None,
            latitude: None,
            longitude: None,
            last_seen_at: None,
            version: view.version,
            event_seq: 1,
            updated_at: view.updated_at,
            plan: Plan {
                destination: view.destination,
                promised_by: view.promised_by,
                changed_at: Some(view.created_at),
                promise_reset: false,
                replanned: false,
            },
            created: Some(Box::new(view)),
            dirty: true,
            courier_ids: Vec::new(),
        }
    }

    /// A status change at `at` (allowed by the flow). The latest position
    /// only moves forward in time: older coordinates keep the status change
    /// but not the position.
    fn change_status(&mut self, command: &UpdateStatus, location: Option<&str>, at: DateTime<Utc>) {
        self.status = command.status;
        if let Some(location) = location {
            self.current_location = Some(location.to_owned());
        }
        if let Some(coordinates) = command.coordinates {
            if self.last_seen_at.is_none_or(|seen| seen <= at) {
                self.latitude = Some(coordinates.latitude());
                self.longitude = Some(coordinates.longitude());
                self.last_seen_at = Some(at);
            }
        }
        self.version += 1;
        self.event_seq += 1;
        self.updated_at = self.updated_at.max(at);
        self.dirty = true;
    }
}

impl StatusRow {
    /// The history row of the change `envelope` just made to `package`
    /// (its creation when `previous` is `None`).
    fn of(
        envelope: &Envelope<Command>,
        package: &PackageRow,
        previous: Option<PackageStatus>,
        location: Option<String>,
        coordinates: Option<shared::domain::Coordinates>,
    ) -> Self {
        Self {
            event_id: envelope.event_id,
            package_id: package.id,
            status: package.status,
            previous,
            location,
            latitude: coordinates.map(|c| c.latitude()),
            longitude: coordinates.map(|c| c.longitude()),
            version: package.version,
            seq: package.event_seq,
            principal: envelope.principal.subject.clone(),
            occurred_at: envelope.occurred_at,
            fingerprint: envelope.fingerprint.clone(),
        }
    }
}

/// A new package as the create command describes it, pending.
fn new_view(command: &CreatePackage, at: DateTime<Utc>) -> PackageView {
    PackageView {
        id: command.package_id,
        tracking_number: command.tracking_number.as_str().to_owned(),
        sender_name: command.sender_name.as_str().to_owned(),
        sender_address: command.sender_address.as_str().to_owned(),
        recipient_name: command.recipient_name.as_str().to_owned(),
        recipient_address: command.recipient_address.as_str().to_owned(),
        status: PackageStatus::Pending,
        current_location: None,
        weight: command.weight,
        description: command.description.as_ref().map(|d| d.as_str().to_owned()),
        latitude: None,
        longitude: None,
        last_seen_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
        owner_id: command.owner_id,
        recipient_email: command
            .recipient_email
            .as_ref()
            .map(|e| e.as_str().to_owned()),
        seq: Some(1),
        courier: None,
        zones: None,
        destination: command.destination,
        promised_by: command.promised_by,
        eta: None,
    }
}

pub(super) fn rejected(
    tracking_number: &shared::domain::TrackingNumber,
    reason: RejectReason,
    message: String,
) -> Event {
    PackageEvent::CommandRejected {
        tracking_number: tracking_number.clone(),
        reason,
        message,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{BoundedText, TrackingNumber};
    use shared::wire::Principal;

    fn tn() -> TrackingNumber {
        TrackingNumber::parse("TRKWINDOW1").unwrap()
    }

    fn envelope(command: Command) -> Envelope<Command> {
        let dispatcher = Principal {
            subject: Some(Uuid::new_v4().to_string()),
            role: Some("dispatcher".into()),
            ..Principal::default()
        };
        Envelope::new(Uuid::now_v7(), Utc::now(), dispatcher, command)
    }

    fn create() -> Envelope<Command> {
        let text = |s: &str| BoundedText::parse(s, 100).unwrap();
        envelope(Command::CreatePackage(CreatePackage {
            package_id: Uuid::new_v4(),
            tracking_number: tn(),
            sender_name: text("A"),
            sender_address: text("B"),
            recipient_name: text("C"),
            recipient_address: text("D"),
            weight: None,
            description: None,
            owner_id: None,
            recipient_email: None,
            destination: None,
            promised_by: None,
            notify_recipient: None,
        }))
    }

    fn status(status: PackageStatus) -> Envelope<Command> {
        envelope(Command::UpdateStatus(UpdateStatus {
            tracking_number: tn(),
            status,
            location: None,
            coordinates: None,
        }))
    }

    #[test]
    fn commands_in_one_window_see_each_other_in_order() {
        let mut window = Window::default();
        let before = window.apply(&status(PackageStatus::InTransit));
        assert_eq!(
            before.event.rejection().map(|(reason, _)| reason),
            Some(RejectReason::NotFound)
        );
        assert_eq!(window.apply(&create()).changed_version, Some(1));
        let moved = window.apply(&status(PackageStatus::InTransit));
        assert!(
            matches!(moved.event, Event::Package(PackageEvent::StatusChanged(ref c)) if c.version == 2 && c.seq == 2)
        );
        let skipped = window.apply(&status(PackageStatus::Delivered));
        assert_eq!(
            skipped.event.rejection().map(|(reason, _)| reason),
            Some(RejectReason::Conflict)
        );
        let again = window.apply(&create());
        assert_eq!(
            again.event.rejection().map(|(reason, _)| reason),
            Some(RejectReason::Conflict)
        );
        assert_eq!(window.status_rows.len(), 2, "rejections write nothing");
        let mut forged = status(PackageStatus::OutForDelivery);
        forged.principal.role = Some("customer".into());
        assert_eq!(
            window
                .apply(&forged)
                .event
                .rejection()
                .map(|(reason, _)| reason),
            Some(RejectReason::Forbidden)
        );
        let mut anonymous = status(PackageStatus::OutForDelivery);
        anonymous.principal = Principal::default();
        assert_eq!(
            window
                .apply(&anonymous)
                .event
                .rejection()
                .map(|(reason, _)| reason),
            Some(RejectReason::Forbidden)
        );
        let row = &window.packages[tn().as_str()];
        assert_eq!(
            (row.version, row.event_seq, row.status),
            (2, 2, PackageStatus::InTransit)
        );
    }
}
