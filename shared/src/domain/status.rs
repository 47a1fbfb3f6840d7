use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a package is in its life. The flow:
///
/// ```text
/// pending → in_transit → out_for_delivery → delivered
///     └──────────┴──────────────┴──→ failed | cancelled      (from any non-final state)
/// failed → in_transit                                         (a new delivery attempt)
/// ```
///
/// `delivered` and `cancelled` are final. `in_transit → in_transit` and
/// `out_for_delivery → out_for_delivery` are allowed: they are checkpoint scans
/// (a new hub, a new position) that keep the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackageStatus {
    Pending,
    InTransit,
    OutForDelivery,
    Delivered,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; expected one of pending, in_transit, out_for_delivery, delivered, failed, cancelled")]
pub struct UnknownStatus(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot change status from {from} to {to}")]
pub struct TransitionError {
    pub from: PackageStatus,
    pub to: PackageStatus,
}

impl PackageStatus {
    pub const ALL: [PackageStatus; 6] = [
        Self::Pending,
        Self::InTransit,
        Self::OutForDelivery,
        Self::Delivered,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Cancelled)
    }

    pub fn can_become(self, to: Self) -> bool {
        use PackageStatus::*;
        match (self, to) {
            (from, _) if from.is_final() => false,
            (_, Failed | Cancelled) => true,
            (Pending, InTransit)
            | (InTransit, InTransit | OutForDelivery)
            | (OutForDelivery, OutForDelivery | Delivered)
            | (Failed, InTransit) => true,
            _ => false,
        }
    }

    pub fn transition(self, to: Self) -> Result<Self, TransitionError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for PackageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::PackageStatus::{self, *};

    #[test]
    fn the_happy_path_is_allowed() {
        assert!(Pending.can_become(InTransit));
        assert!(InTransit.can_become(OutForDelivery));
        assert!(OutForDelivery.can_become(Delivered));
    }

    #[test]
    fn final_states_accept_nothing() {
        for to in PackageStatus::ALL {
            assert!(!Delivered.can_become(to), "delivered -> {to}");
            assert!(!Cancelled.can_become(to), "cancelled -> {to}");
        }
    }

    #[test]
    fn failed_and_cancelled_from_any_open_state() {
        for from in [Pending, InTransit, OutForDelivery, Failed] {
            assert!(from.can_become(Failed), "{from} -> failed");
            assert!(from.can_become(Cancelled), "{from} -> cancelled");
        }
    }

    #[test]
    fn skipping_or_going_back_is_refused() {
        assert!(!Pending.can_become(Delivered));
        assert!(!Pending.can_become(OutForDelivery));
        assert!(!OutForDelivery.can_become(InTransit));
        assert!(!InTransit.can_become(Pending));
        assert!(!Failed.can_become(Delivered));
        let err = Delivered.transition(InTransit).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot change status from delivered to in_transit"
        );
    }

    #[test]
    fn a_failed_delivery_can_be_retried() {
        assert!(Failed.can_become(InTransit));
    }

    #[test]
    fn parses_every_wire_name_and_nothing_else() {
        for status in PackageStatus::ALL {
            assert_eq!(status.as_str().parse::<PackageStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("lost".parse::<PackageStatus>().is_err());
        assert!("IN_TRANSIT".parse::<PackageStatus>().is_err());
    }
}
