use crate::auth::Role;
use crate::domain::{BoundedText, Coordinates, Email, PackageStatus, TrackingNumber};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What ingest asks the workers to do. Every field is already validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Command {
    CreatePackage(CreatePackage),
    UpdateStatus(UpdateStatus),
    RegisterUser(RegisterUser),
    CreateDelivery(CreateDelivery),
    UpdateDelivery(UpdateDelivery),
    RegisterDevice(RegisterDevice),
    /// Replace a device's key (the old one stops working).
    RotateDeviceKey(RotateDeviceKey),
    /// Stop a device's key for good.
    RevokeDevice(RevokeDevice),
    /// A sign-in: ingest checked the password; the session starts.
    StartSession(StartSession),
    /// Exchange a session's current refresh token for the next one.
    RefreshSession(RefreshSession),
    /// A sign-out: the session ends.
    EndSession(EndSession),
    /// An admin changes an account's role, or disables or enables it.
    UpdateUser(UpdateUser),
    /// A mailed link proved the account owns its email.
    VerifyEmail(VerifyEmail),
    /// Mail the account a new verification link.
    ResendVerification(ResendVerification),
    /// Mail a password-reset link to the account with this email, if any.
    RequestPasswordReset(RequestPasswordReset),
    /// A mailed link sets a new password; every session of the account ends.
    ResetPassword(ResetPassword),
    /// An admin or dispatcher draws a zone (its id chosen by ingest).
    CreateGeofence(CreateGeofence),
    /// Absent fields of the zone stay as they are.
    UpdateGeofence(UpdateGeofence),
    DeleteGeofence(DeleteGeofence),
    /// A package's destination or promised time, set or cleared.
    UpdatePlan(UpdatePlan),
    /// An account registers a webhook endpoint (its id from the command's
    /// event id; its secret is derived, never sent).
    CreateWebhook(CreateWebhook),
    /// Absent fields of the endpoint stay as they are.
    UpdateWebhook(UpdateWebhook),
    DeleteWebhook(DeleteWebhook),
    /// A new secret; the previous one keeps signing for a day.
    RotateWebhookSecret(RotateWebhookSecret),
    /// No more recipient mail to an address.
    UnsubscribeRecipient(UnsubscribeRecipient),
}

/// A new endpoint, every field checked by ingest (its URL's addresses too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhook {
    pub webhook_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub packages: Option<Vec<TrackingNumber>>,
    pub description: Option<BoundedText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateWebhook {
    pub webhook_id: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub packages: Patch<Vec<TrackingNumber>>,
    #[serde(default)]
    pub description: Patch<BoundedText>,
    /// `false` also enables an endpoint disabled for failing.
    #[serde(default)]
    pub paused: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteWebhook {
    pub webhook_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotateWebhookSecret {
    pub webhook_id: Uuid,
}

/// A field of an update: kept as it is, cleared, or set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Copy> Patch<T> {
    /// The value after the patch, given the one before.
    pub fn applied_to(self, before: Option<T>) -> Option<T> {
        match self {
            Self::Keep => before,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }
}

/// Where a package goes and by when it was promised; ingest checked both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatePlan {
    pub tracking_number: TrackingNumber,
    #[serde(default)]
    pub destination: Patch<Coordinates>,
    #[serde(default)]
    pub promised_by: Patch<chrono::DateTime<chrono::Utc>>,
}

/// A new zone, every field checked by ingest; its id comes from the
/// command's event id, so a redelivered create finds its own zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateGeofence {
    pub zone: crate::geofences::Zone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateGeofence {
    pub zone_id: Uuid,
    pub changes: crate::geofences::parse::ZoneFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteGeofence {
    pub zone_id: Uuid,
}

/// A new session for an account whose password ingest just checked. Only
/// the refresh token's hash travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartSession {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// [`crate::auth::links::password_version`] of the hash the password
    /// was checked against: a reset applied in between refuses the session.
    pub password_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshSession {
    pub session_id: Uuid,
    pub presented_hash: String,
    pub next_hash: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndSession {
    pub session_id: Uuid,
}

/// Absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateUser {
    pub user_id: Uuid,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// What a verification link said: this account, this email, this link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyEmail {
    pub user_id: Uuid,
    pub email: Email,
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResendVerification {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPasswordReset {
    pub email: Email,
}

/// What a reset link said, and the new password's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetPassword {
    pub user_id: Uuid,
    pub nonce: String,
    /// The password the link was made for: a link outlives no change.
    pub password_version: String,
    pub password_hash: String,
}

/// A device bound to a courier; ingest made the key and sends only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterDevice {
    pub device_id: Uuid,
    pub courier_id: Uuid,
    pub name: BoundedText,
    pub key_hash: String,
    /// The hash of its OsmAnd identifier ([`crate::auth::api_key::unique_id_hash`]).
    #[serde(default)]
    pub unique_id_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotateDeviceKey {
    pub device_id: Uuid,
    pub key_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeDevice {
    pub device_id: Uuid,
}

/// A dispatcher gives a courier a run of stops for a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateDelivery {
    /// Chosen by ingest from the event id, so a redelivery finds its own row.
    pub delivery_id: Uuid,
    pub courier_id: Uuid,
    pub day: chrono::NaiveDate,
    /// In visiting order; each package at most once.
    pub stops: Vec<TrackingNumber>,
}

/// Reassign, reorder or complete a delivery; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateDelivery {
    pub delivery_id: Uuid,
    pub courier_id: Option<Uuid>,
    pub stops: Option<Vec<TrackingNumber>>,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePackage {
    /// Chosen by ingest so a redelivered create yields the same package.
    pub package_id: Uuid,
    pub tracking_number: TrackingNumber,
    pub sender_name: BoundedText,
    pub sender_address: BoundedText,
    pub recipient_name: BoundedText,
    pub recipient_address: BoundedText,
    pub weight: Option<f64>,
    pub description: Option<BoundedText>,
    /// The account that created it: a customer sees the packages they own.
    #[serde(default)]
    pub owner_id: Option<Uuid>,
    /// The recipient's account email: they see the package too.
    #[serde(default)]
    pub recipient_email: Option<Email>,
    /// Where it is delivered: its stop on a run has an arrival estimate.
    #[serde(default)]
    pub destination: Option<Coordinates>,
    /// By when delivery was promised.
    #[serde(default)]
    pub promised_by: Option<chrono::DateTime<chrono::Utc>>,
    /// Mail `recipient_email` when it is out for delivery, delivered or
    /// not delivered (`notify_recipient: true`), in this language and
    /// time zone.
    #[serde(default)]
    pub notify_recipient: Option<crate::recipients::Preferences>,
}

/// An address used its one-click unsubscribe link: no more recipient mail
/// to it (ingest checked the link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnsubscribeRecipient {
    pub email: Email,
}

/// A new account. The password is hashed by ingest; only the hash travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterUser {
    /// Chosen by ingest from the event id, so a redelivery proposes the same account.
    pub user_id: Uuid,
    pub email: Email,
    pub name: BoundedText,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateStatus {
    pub tracking_number: TrackingNumber,
    pub status: PackageStatus,
    pub location: Option<BoundedText>,
    pub coordinates: Option<Coordinates>,
}

impl Command {
    /// Whether the command writes a zone (applied beside the package
    /// window, in MongoDB, not in its transaction).
    pub fn is_geofence(&self) -> bool {
        matches!(
            self,
            Self::CreateGeofence(_) | Self::UpdateGeofence(_) | Self::DeleteGeofence(_)
        )
    }

    /// The package the command is about; `None` for account commands.
    pub fn tracking_number(&self) -> Option<&TrackingNumber> {
        match self {
            Self::CreatePackage(c) => Some(&c.tracking_number),
            Self::UpdateStatus(c) => Some(&c.tracking_number),
            Self::UpdatePlan(c) => Some(&c.tracking_number),
            _ => None,
        }
    }

    /// What picks the command's shard: commands with one key are applied in
    /// order by one consumer (a package's, or an email's, so two sign-ups
    /// for one address are decided one after the other).
    pub fn shard_key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::CreatePackage(c) => c.tracking_number.as_str().into(),
            Self::UpdateStatus(c) => c.tracking_number.as_str().into(),
            Self::UpdatePlan(c) => c.tracking_number.as_str().into(),
            Self::RegisterUser(c) => c.email.as_str().into(),
            Self::CreateDelivery(c) => c.delivery_id.to_string().into(),
            Self::UpdateDelivery(c) => c.delivery_id.to_string().into(),
            Self::RegisterDevice(c) => c.device_id.to_string().into(),
            Self::RotateDeviceKey(c) => c.device_id.to_string().into(),
            Self::RevokeDevice(c) => c.device_id.to_string().into(),
            Self::StartSession(c) => c.session_id.to_string().into(),
            Self::RefreshSession(c) => c.session_id.to_string().into(),
            Self::EndSession(c) => c.session_id.to_string().into(),
            Self::UpdateUser(c) => c.user_id.to_string().into(),
            Self::VerifyEmail(c) => c.user_id.to_string().into(),
            Self::ResendVerification(c) => c.user_id.to_string().into(),
            Self::RequestPasswordReset(c) => c.email.as_str().into(),
            Self::ResetPassword(c) => c.user_id.to_string().into(),
            Self::CreateGeofence(c) => c.zone.id.to_string().into(),
            Self::UpdateGeofence(c) => c.zone_id.to_string().into(),
            Self::DeleteGeofence(c) => c.zone_id.to_string().into(),
            Self::CreateWebhook(c) => c.webhook_id.to_string().into(),
            Self::UpdateWebhook(c) => c.webhook_id.to_string().into(),
            Self::DeleteWebhook(c) => c.webhook_id.to_string().into(),
            Self::RotateWebhookSecret(c) => c.webhook_id.to_string().into(),
            Self::UnsubscribeRecipient(c) => c.email.as_str().into(),
        }
    }

    /// The word used in routing keys and the AMQP `type` property.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreatePackage(_) => "create",
            Self::UpdateStatus(_) => "status",
            Self::RegisterUser(_) => "register",
            Self::CreateDelivery(_) => "delivery_create",
            Self::UpdateDelivery(_) => "delivery_update",
            Self::RegisterDevice(_) => "device_register",
            Self::RotateDeviceKey(_) => "device_rotate",
            Self::RevokeDevice(_) => "device_revoke",
            Self::StartSession(_) => "session_start",
            Self::RefreshSession(_) => "session_refresh",
            Self::EndSession(_) => "session_end",
            Self::UpdateUser(_) => "user_update",
            Self::VerifyEmail(_) => "email_verify",
            Self::ResendVerification(_) => "email_verify_resend",
            Self::RequestPasswordReset(_) => "password_reset_request",
            Self::ResetPassword(_) => "password_reset",
            Self::CreateGeofence(_) => "geofence_create",
            Self::UpdateGeofence(_) => "geofence_update",
            Self::DeleteGeofence(_) => "geofence_delete",
            Self::UpdatePlan(_) => "plan_update",
            Self::CreateWebhook(_) => "webhook_create",
            Self::UpdateWebhook(_) => "webhook_update",
            Self::DeleteWebhook(_) => "webhook_delete",
            Self::RotateWebhookSecret(_) => "webhook_rotate",
            Self::UnsubscribeRecipient(_) => "recipient_unsubscribe",
        }
    }
}
