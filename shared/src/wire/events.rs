use crate::domain::{Coordinates, PackageStatus, PackageView, TrackingNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The outcome of a command, published on the events exchange and sent back to
/// the ingest instance that is waiting for it.
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

impl Event {
    pub fn tracking_number(&self) -> &str {
        match self {
            Self::PackageCreated(e) => &e.package.tracking_number,
            Self::StatusChanged(e) => e.tracking_number.as_str(),
            Self::LocationsRecorded(e) => e.tracking_number.as_str(),
            Self::CommandRejected {
                tracking_number, ..
            } => tracking_number.as_str(),
            _ => "",
        }
    }

    /// Whether watchers of a package may see this event (account outcomes
    /// go back to the requester only).
    pub fn is_package_event(&self) -> bool {
        matches!(
            self,
            Self::PackageCreated(_)
                | Self::StatusChanged(_)
                | Self::LocationsRecorded(_)
                | Self::CommandRejected { .. }
        )
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
