use crate::domain::{Coordinates, PackageStatus, PackageView, TrackingNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The outcome of a command, sent back to the ingest instance that is waiting
/// for it. The part of it a package's watchers may see travels on the events
/// exchange as a [`PackageEvent`] ([`Event::for_watchers`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Event {
    PackageCreated(PackageCreated),
    StatusChanged(StatusChanged),
    LocationsRecorded(super::LocationsRecorded),
    CommandRejected {
        tracking_number: TrackingNumber,
        reason: RejectReason,
        message: String,
    },
    /// An account was created (a reply only: never published to watchers).
    UserRegistered(crate::auth::UserView),
    /// A delivery was created or changed (a reply only).
    DeliveryChanged(crate::domain::DeliveryView),
    /// A device was registered, given a new key or revoked (a reply only).
    DeviceChanged(crate::domain::DeviceView),
    /// An account, delivery or device command was refused (a reply only).
    AccountRejected {
        reason: RejectReason,
        message: String,
    },
    /// A sign-up for an email that has an account (a reply only): its
    /// owner is told by mail; the requester learns nothing.
    AlreadyRegistered {
        email: crate::domain::Email,
    },
    /// A session started or was renewed (a reply only): the account as it
    /// stands, for the access token.
    SessionIssued {
        session_id: Uuid,
        user: crate::auth::UserView,
    },
    /// A session ended: signed out, or its refresh token was used twice
    /// (`revoked`) (a reply only).
    SessionEnded {
        session_id: Uuid,
        user_id: Uuid,
        revoked: bool,
    },
    /// An account's role, state, email verification or password changed
    /// (a reply only).
    AccountChanged(crate::auth::UserView),
    /// A verification or reset link is to be mailed to an account (a reply
    /// only; the requester is not told whether the account exists).
    LinkRequested {
        user_id: Uuid,
        email: crate::domain::Email,
        link: LinkKind,
    },
    /// Done, with nothing to report (a reply only).
    Acknowledged,
}

/// Which link a [`Event::LinkRequested`] mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkKind {
    VerifyEmail,
    /// For the password whose version this is.
    ResetPassword {
        password_version: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageCreated {
    pub package: PackageView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub previous: PackageStatus,
    pub status: PackageStatus,
    pub location: Option<String>,
    pub coordinates: Option<Coordinates>,
    /// The package's version after this change: consecutive per package.
    pub version: i64,
    /// The change's number in the package's event sequence (creation, status
    /// changes and location points), for gap-free replays.
    #[serde(default)]
    pub seq: i64,
    pub changed_at: DateTime<Utc>,
}

/// Why a well-formed command was not applied. Maps onto HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The package does not exist (404).
    NotFound,
    /// The tracking number is taken, or the status flow forbids the change (409).
    Conflict,
    /// The command's `Idempotency-Key` was first used for a different request (422).
    IdempotencyConflict,
    /// The principal in the envelope may not do this (403): checked again by
    /// the workers, so a replayed message, or one re-driven after the
    /// principal's rights changed, is refused.
    Forbidden,
    /// The session, token or link is not (or no longer) good (401).
    Unauthenticated,
    /// The command names something that cannot be used (422): a courier that
    /// is no courier, a package that does not exist.
    Invalid,
}

/// What a package's watchers are told: published on the events exchange,
/// never an account outcome. Each variant is encoded exactly as the
/// [`Event`] variant of the same name, so either type reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum PackageEvent {
    PackageCreated(PackageCreated),
    StatusChanged(StatusChanged),
    LocationsRecorded(super::LocationsRecorded),
    CommandRejected {
        tracking_number: TrackingNumber,
        reason: RejectReason,
        message: String,
    },
}

impl PackageEvent {
    pub fn tracking_number(&self) -> &str {
        match self {
            Self::PackageCreated(e) => &e.package.tracking_number,
            Self::StatusChanged(e) => e.tracking_number.as_str(),
            Self::LocationsRecorded(e) => e.tracking_number.as_str(),
            Self::CommandRejected {
                tracking_number, ..
            } => tracking_number.as_str(),
        }
    }

    /// The last word of the routing key `package.<tracking_number>.<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PackageCreated(_) => "created",
            Self::StatusChanged(_) => "status_changed",
            Self::LocationsRecorded(_) => "location",
            Self::CommandRejected { .. } => "rejected",
        }
    }
}

impl Event {
    /// What of this outcome a package's watchers see, if anything (account
    /// outcomes go back to the requester only).
    pub fn for_watchers(&self) -> Option<PackageEvent> {
        Some(match self {
            Self::PackageCreated(e) => PackageEvent::PackageCreated(e.clone()),
            Self::StatusChanged(e) => PackageEvent::StatusChanged(e.clone()),
            Self::LocationsRecorded(e) => PackageEvent::LocationsRecorded(e.clone()),
            Self::CommandRejected {
                tracking_number,
                reason,
                message,
            } => PackageEvent::CommandRejected {
                tracking_number: tracking_number.clone(),
                reason: *reason,
                message: message.clone(),
            },
            _ => return None,
        })
    }

    /// The account whose rights or sessions this outcome changed: every
    /// ingest and broadcaster checks what it remembers of it again.
    pub fn changed_account(&self) -> Option<Uuid> {
        match self {
            Self::AccountChanged(user) => Some(user.id),
            Self::SessionEnded { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    /// The last word of the routing key `package.<tracking_number>.<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PackageCreated(_) => "created",
            Self::StatusChanged(_) => "status_changed",
            Self::LocationsRecorded(_) => "location",
            Self::CommandRejected { .. } | Self::AccountRejected { .. } => "rejected",
            Self::UserRegistered(_) => "user_registered",
            Self::DeliveryChanged(_) => "delivery_changed",
            Self::DeviceChanged(_) => "device_changed",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::SessionIssued { .. } => "session_issued",
            Self::SessionEnded { .. } => "session_ended",
            Self::AccountChanged(_) => "account_changed",
            Self::LinkRequested { .. } => "link_requested",
            Self::Acknowledged => "acknowledged",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_event_reads_as_the_outcome_it_came_from_and_back() {
        let outcome = Event::CommandRejected {
            tracking_number: TrackingNumber::parse("TRK1234").expect("valid"),
            reason: RejectReason::Conflict,
            message: "no".into(),
        };
        let event = outcome.for_watchers().expect("watchers see a rejection");
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
        assert_eq!(Event::Acknowledged.for_watchers(), None);
    }
}
