//! The `package_update` frame WebSocket clients get: the original shape plus
//! `kind`, `seq` and `event_id`. Each flow renders its live events and their
//! replays through the same code (status changes:
//! [`crate::packages::render`]; points: [`crate::locations::render`]).
//! And a package as it is now, for a feed that resumes (the broadcaster's
//! `package_states` frames).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One update as clients see it.
/// `M` is what a flow adds to `data` (a location's measurements); nothing
/// by default.
#[derive(Serialize)]
pub struct PackageUpdate<'a, M: Serialize = ()> {
    r#type: &'static str,
    pub tracking_number: &'a str,
    pub kind: &'a str,
    pub event_id: String,
    /// The event's number in the package's sequence: creation is 1, and each
    /// status change or location point takes the next.
    pub seq: i64,
    pub data: Data<'a, M>,
}

#[derive(Serialize)]
pub struct Data<'a, M: Serialize = ()> {
    pub status: Option<&'a str>,
    pub location: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub timestamp: DateTime<Utc>,
    /// What the flow adds, flattened into `data`.
    #[serde(flatten)]
    pub extra: M,
}

impl<'a, M: Serialize> PackageUpdate<'a, M> {
    pub fn new(
        tracking_number: &'a str,
        kind: &'a str,
        event_id: String,
        seq: i64,
        data: Data<'a, M>,
    ) -> Self {
        Self {
            r#type: "package_update",
            tracking_number,
            kind,
            event_id,
            seq,
            data,
        }
    }

    pub fn render(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
}

/// A package as it stands after event `seq`: what a resuming feed client
/// gets for each package that changed while it was away.
#[derive(Serialize)]
pub struct PackageState<'a> {
    pub tracking_number: &'a str,
    pub seq: i64,
    /// `timestamp` is when the package last changed.
    pub data: Data<'a>,
}

impl<'a> PackageState<'a> {
    pub fn new(tracking_number: &'a str, seq: i64, data: Data<'a>) -> Self {
        Self {
            tracking_number,
            seq,
            data,
        }
    }
}
