//! Mail to a package's recipient (not an account: the address given as
//! `recipient_email` when the package was created with
//! `notify_recipient: true`): out for delivery (with the arrival window),
//! delivered, a delivery attempt failed.
//!
//! - [`Locale`], [`Preferences`]: the language and time zone asked for;
//! - [`quiet`]: the hours non-urgent mail waits out, in the recipient's
//!   time zone;
//! - [`unsubscribe`]: the signed one-click link every such mail carries;
//!   an address that used it gets no more mail from DeliverTrack.
//!
//! What such a mail says is DeliverTrack's own words, the tracking number
//! and the arrival window; nothing the package's creator wrote (whoever
//! creates a package may name any address).

pub mod quiet;
pub mod unsubscribe;

use serde::{Deserialize, Serialize};

/// The languages recipient mail is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    En,
    De,
}

impl Locale {
    /// `en` or `de` (a region after them, `de-AT`, is accepted and dropped).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "en" => Ok(Self::En),
            "de" => Ok(Self::De),
            _ => Err("must be en or de"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }
}

/// How a package's recipient wants to be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub locale: Locale,
    /// An IANA time zone name (checked by ingest), for quiet hours.
    pub time_zone: String,
    /// The notices asked for (all of them unless the package said).
    #[serde(default = "NoticeKind::all")]
    pub notices: Vec<NoticeKind>,
}

/// What a recipient mail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    OutForDelivery,
    Delivered,
    FailedAttempt,
}

impl NoticeKind {
    pub const ALL: [Self; 3] = [Self::OutForDelivery, Self::Delivered, Self::FailedAttempt];

    pub fn all() -> Vec<Self> {
        Self::ALL.to_vec()
    }

    /// `out_for_delivery`, `delivered` or `failed_attempt`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// The mail a status change owes, if any.
    pub fn for_status(status: crate::domain::PackageStatus) -> Option<Self> {
        use crate::domain::PackageStatus::*;
        match status {
            OutForDelivery => Some(Self::OutForDelivery),
            Delivered => Some(Self::Delivered),
            Failed => Some(Self::FailedAttempt),
            _ => None,
        }
    }

    /// Sent at once even in quiet hours: the courier is on the way.
    pub fn urgent(self) -> bool {
        self == Self::OutForDelivery
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::FailedAttempt => "failed_attempt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_parse_with_or_without_a_region() {
        assert_eq!(Locale::parse("de-AT"), Ok(Locale::De));
        assert_eq!(Locale::parse("EN"), Ok(Locale::En));
        assert!(Locale::parse("fr").is_err());
    }
}
