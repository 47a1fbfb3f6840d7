//! What the mail pool is asked to send (workers → mail pool). The request
//! names the mail, not its text or its links: the mail pool renders it and
//! signs the links when it sends, so no link travels through the broker.
//! It carries nothing the account chose (not even its name): whoever signs
//! up with someone else's address must not be able to put words of theirs
//! into a mail that reaches that address.

use crate::domain::Email;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailRequest {
    pub to: Email,
    pub mail: Mail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// A link proving the address is the account's.
    VerifyEmail { user_id: Uuid },
    /// Someone tried to sign up with an address that has an account.
    AccountExists,
    /// A link setting a new password, for the password of this version.
    ResetPassword {
        user_id: Uuid,
        password_version: String,
    },
    /// The account's webhook endpoint failed for days and was disabled.
    WebhookDisabled { webhook_id: Uuid },
    /// A package's recipient is told how it goes (not an account's mail:
    /// the address was given with the package).
    RecipientNotice {
        tracking_number: String,
        notice: crate::recipients::NoticeKind,
        /// The arrival window, when out for delivery on a run.
        eta: Option<crate::notices::Eta>,
        preferences: crate::recipients::Preferences,
    },
}

impl Mail {
    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::AccountExists => "account_exists",
            Self::ResetPassword { .. } => "reset_password",
            Self::WebhookDisabled { .. } => "webhook_disabled",
            Self::RecipientNotice { .. } => "recipient_notice",
        }
    }
}
