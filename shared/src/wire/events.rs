use crate::domain::RejectReason;
use crate::packages::PackageEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The outcome of a command, for the ingest instance that waits for it:
/// what happened to a package (which the package's watchers are told too,
/// on the events exchange) or an account outcome (the requester's alone).
///
/// Untagged: each side is encoded exactly as itself, `{"kind", "data"}`,
/// so a package event reads as an [`Event`] and the other way round.
// As large as a package event's creation (see `PackageEvent`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    Package(PackageEvent),
    Account(AccountOutcome),
}

/// The outcome of an account, delivery or device command: sent back to the
/// requester only, never published to watchers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum AccountOutcome {
    /// An account was created.
    UserRegistered(crate::auth::UserView),
    /// A delivery was created or changed.
    DeliveryChanged(crate::auth::DeliveryView),
    /// A device was registered, given a new key or revoked.
    DeviceChanged(crate::auth::DeviceView),
    /// An account, delivery or device command was refused.
    AccountRejected {
        reason: RejectReason,
        message: String,
    },
    /// A sign-up for an email that has an account: its owner is told by
    /// mail; the requester learns nothing.
    AlreadyRegistered {
        email: crate::domain::Email,
    },
    /// A session started or was renewed: the account as it stands, for the
    /// access token.
    SessionIssued {
        session_id: Uuid,
        user: crate::auth::UserView,
    },
    /// A session ended: signed out, or its refresh token was used twice
    /// (`revoked`).
    SessionEnded {
        session_id: Uuid,
        user_id: Uuid,
        revoked: bool,
    },
    /// An account's role, state, email verification or password changed.
    AccountChanged(crate::auth::UserView),
    /// A verification or reset link is to be mailed to an account (the
    /// requester is not told whether the account exists).
    LinkRequested {
        user_id: Uuid,
        email: crate::domain::Email,
        link: LinkKind,
    },
    /// A zone was drawn or changed: the zone as it stands.
    GeofenceChanged(crate::geofences::Zone),
    GeofenceDeleted {
        zone_id: Uuid,
    },
    /// A webhook endpoint was registered or changed: as it stands.
    WebhookChanged(crate::webhooks::view::WebhookView),
    WebhookDeleted {
        webhook_id: Uuid,
    },
    /// Done, with nothing to report.
    Acknowledged,
}

/// Which link a [`AccountOutcome::LinkRequested`] mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkKind {
    VerifyEmail,
    /// For the password whose version this is.
    ResetPassword {
        password_version: String,
    },
}

impl Event {
    /// What of this outcome a package's watchers see, if anything (account
    /// outcomes go back to the requester only).
    pub fn for_watchers(&self) -> Option<&PackageEvent> {
        match self {
            Self::Package(event) => Some(event),
            Self::Account(_) => None,
        }
    }

    /// The account whose rights or sessions this outcome changed: every
    /// ingest and broadcaster checks what it remembers of it again.
    pub fn changed_account(&self) -> Option<Uuid> {
        match self {
            Self::Account(AccountOutcome::AccountChanged(user)) => Some(user.id),
            Self::Account(AccountOutcome::SessionEnded { user_id, .. }) => Some(*user_id),
            _ => None,
        }
    }

    /// What the outcome is: its `kind` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Package(event) => event.kind(),
            Self::Account(outcome) => outcome.kind(),
        }
    }

    /// A refusal of the command, whichever side it is on.
    pub fn rejection(&self) -> Option<(RejectReason, &str)> {
        match self {
            Self::Package(PackageEvent::CommandRejected {
                reason, message, ..
            })
            | Self::Account(AccountOutcome::AccountRejected { reason, message }) => {
                Some((*reason, message))
            }
            _ => None,
        }
    }
}

impl AccountOutcome {
    /// Its `kind` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserRegistered(_) => "user_registered",
            Self::DeliveryChanged(_) => "delivery_changed",
            Self::DeviceChanged(_) => "device_changed",
            Self::AccountRejected { .. } => "rejected",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::SessionIssued { .. } => "session_issued",
            Self::SessionEnded { .. } => "session_ended",
            Self::AccountChanged(_) => "account_changed",
            Self::LinkRequested { .. } => "link_requested",
            Self::GeofenceChanged(_) => "geofence_changed",
            Self::GeofenceDeleted { .. } => "geofence_deleted",
            Self::WebhookChanged(_) => "webhook_changed",
            Self::WebhookDeleted { .. } => "webhook_deleted",
            Self::Acknowledged => "acknowledged",
        }
    }
}

impl From<PackageEvent> for Event {
    fn from(event: PackageEvent) -> Self {
        Self::Package(event)
    }
}

impl From<AccountOutcome> for Event {
    fn from(outcome: AccountOutcome) -> Self {
        Self::Account(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TrackingNumber;

    #[test]
    fn a_package_event_reads_as_the_outcome_it_came_from_and_back() {
        let outcome = Event::Package(PackageEvent::CommandRejected {
            tracking_number: TrackingNumber::parse("TRK1234").expect("valid"),
            reason: RejectReason::Conflict,
            message: "no".into(),
        });
        let event = outcome
            .for_watchers()
            .expect("watchers see a rejection")
            .clone();
        assert_eq!(
            (event.kind(), event.tracking_number()),
            ("rejected", "TRK1234")
        );
        let bytes = rmp_serde::to_vec_named(&event).expect("encodes");
        let read: Event = rmp_serde::from_slice(&bytes).expect("reads as an Event");
        assert_eq!(read, outcome);
        let bytes = rmp_serde::to_vec_named(&outcome).expect("encodes");
        let read: PackageEvent = rmp_serde::from_slice(&bytes).expect("reads as a PackageEvent");
        assert_eq!(read, event);
        assert_eq!(
            Event::Account(AccountOutcome::Acknowledged).for_watchers(),
            None
        );
        // An account outcome keeps its encoding too.
        let acknowledged = Event::Account(AccountOutcome::Acknowledged);
        let bytes = rmp_serde::to_vec_named(&acknowledged).expect("encodes");
        let read: Event = rmp_serde::from_slice(&bytes).expect("reads back");
        assert_eq!(read, acknowledged);
        assert_eq!(acknowledged.kind(), "acknowledged");
    }
}
