//! Messages on the broker, as versioned MessagePack envelopes, each sealed
//! with an HMAC ([`seal`]) that consumers verify before they decode.
//!
//! Every message is an [`Envelope`] around a body: a [`Command`] (ingest → workers)
//! or a [`LocationBatch`] (ingest → workers), or an [`Event`] (workers →
//! ingest replies and the events exchange). Envelopes
//! are encoded as MessagePack maps with field names, so a newer producer may add
//! fields an older consumer ignores; a change that old consumers cannot read
//! bumps [`SCHEMA_VERSION`], and consumers refuse versions they do not know.

mod commands;
mod envelope;
mod events;
mod mail;

pub use crate::domain::RejectReason;
pub use crate::locations::{LocationBatch, LocationPoint, LocationsRecorded, RecordedPoint};
pub use crate::packages::{PackageCreated, PackageEvent, PlanChanged, StatusChanged};
pub use crate::seal::{self, SealError, SigningKeys};
pub use commands::Patch;
pub use commands::{
    Command, CreateDelivery, CreateGeofence, CreatePackage, DeleteGeofence, EndSession,
    RefreshSession, RegisterDevice, RegisterUser, RequestPasswordReset, ResendVerification,
    ResetPassword, RevokeDevice, RotateDeviceKey, StartSession, UpdateDelivery, UpdateGeofence,
    UpdatePlan, UpdateStatus, UpdateUser, VerifyEmail,
};
pub use commands::{
    CreateWebhook, DeleteWebhook, RotateWebhookSecret, UnsubscribeRecipient, UpdateWebhook,
};
pub use envelope::{Envelope, Principal, TraceContext, WireError, SCHEMA_VERSION};
pub use events::{AccountOutcome, Event, LinkKind};
pub use mail::{Mail, MailRequest};
