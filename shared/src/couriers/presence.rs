//! Whether a courier's device is with us: `online` while it reports,
//! `stale` once it has been quiet for a while, `offline` after longer.
//! Computed from when it was last heard, so every read agrees with the
//! events the location workers announce on each change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Stale,
    Offline,
}

/// The thresholds (`COURIER_STALE_AFTER_S`, `COURIER_OFFLINE_AFTER_S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceRules {
    pub stale_after: Duration,
    pub offline_after: Duration,
}

impl Default for PresenceRules {
    fn default() -> Self {
        Self {
            stale_after: Duration::from_secs(120),
            offline_after: Duration::from_secs(600),
        }
    }
}

impl PresenceRules {
    /// From the environment; the offline threshold is never before the stale one.
    pub fn from_env() -> Result<Self, crate::env::ConfigError> {
        let defaults = Self::default();
        let stale = crate::env::secs_var("COURIER_STALE_AFTER_S", defaults.stale_after)?
            .max(Duration::from_secs(1));
        let offline = crate::env::secs_var("COURIER_OFFLINE_AFTER_S", defaults.offline_after)?;
        Ok(Self {
            stale_after: stale,
            offline_after: offline.max(stale),
        })
    }

    /// The presence of a device last heard at `heard_at`, at `now`.
    pub fn at(&self, heard_at: DateTime<Utc>, now: DateTime<Utc>) -> Presence {
        let quiet = (now - heard_at).to_std().unwrap_or_default();
        if quiet >= self.offline_after {
            Presence::Offline
        } else if quiet >= self.stale_after {
            Presence::Stale
        } else {
            Presence::Online
        }
    }
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Stale => "stale",
            Self::Offline => "offline",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "online" => Some(Self::Online),
            "stale" => Some(Self::Stale),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_devices_go_stale_then_offline_at_the_thresholds() {
        let rules = PresenceRules {
            stale_after: Duration::from_secs(60),
            offline_after: Duration::from_secs(300),
        };
        let heard = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let after = |s: i64| heard + chrono::Duration::seconds(s);
        assert_eq!(rules.at(heard, after(59)), Presence::Online);
        assert_eq!(rules.at(heard, after(60)), Presence::Stale);
        assert_eq!(rules.at(heard, after(299)), Presence::Stale);
        assert_eq!(rules.at(heard, after(300)), Presence::Offline);
        // A clock behind the report is not a reason to call it stale.
        assert_eq!(rules.at(heard, after(-5)), Presence::Online);
    }
}
