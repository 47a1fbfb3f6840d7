//! The package as the API shows it, read straight from its row.

use crate::domain::PackageStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The package object of the REST API (the original fields plus our additions),
/// also carried in `PackageCreated` events and cached in Redis as JSON.
/// Optional fields are always present, as `null`, so clients see one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PackageView {
    pub id: Uuid,
    pub tracking_number: String,
    pub sender_name: String,
    pub sender_address: String,
    pub recipient_name: String,
    pub recipient_address: String,
    #[sqlx(try_from = "String")]
    pub status: PackageStatus,
    pub current_location: Option<String>,
    pub weight: Option<f64>,
    pub description: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Increases by one with every change applied to the package.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The account that created the package (`null` for packages from
    /// before accounts existed).
    #[serde(default)]
    pub owner_id: Option<Uuid>,
    /// The recipient's account email, if given: that account sees the package.
    #[serde(default)]
    pub recipient_email: Option<String>,
    /// The package's last event number (the `seq` of WebSocket updates), so
    /// a client that reads the package knows which updates it already holds.
    /// `null` only in a view cached or sent before the field existed.
    #[serde(default)]
    #[sqlx(rename = "event_seq")]
    pub seq: Option<i64>,
    /// The courier the package rides with now (in transit or out for
    /// delivery on their run): its position is then the courier's latest
    /// fix. Filled in when read, never stored or cached.
    #[serde(default)]
    #[sqlx(skip)]
    pub courier: Option<CourierAboard>,
    /// The geofences the package is in now (its own, or its courier's
    /// while it rides with one); `null` in listings.
    #[serde(default)]
    #[sqlx(skip)]
    pub zones: Option<Vec<crate::geofences::ZoneIn>>,
    /// Where it is delivered, if given: its stop on a run then has an
    /// arrival estimate.
    #[serde(default)]
    #[sqlx(json(nullable))]
    #[schema(value_type = Option<Place>)]
    pub destination: Option<crate::domain::Coordinates>,
    /// By when delivery was promised, if it was.
    #[serde(default)]
    pub promised_by: Option<DateTime<Utc>>,
    /// The arrival estimate last announced (`eta_changed`), while the
    /// package is out for delivery on a run and has a destination.
    #[serde(default)]
    #[sqlx(json(nullable))]
    pub eta: Option<crate::notices::Eta>,
}

/// A point as the API writes it (and reads it: a package's destination).
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Place {
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: f64,
}

impl TryFrom<String> for PackageStatus {
    type Error = crate::domain::UnknownStatus;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl PackageView {
    /// The columns to select for a [`PackageView`], in one place so every query agrees.
    pub const COLUMNS: &'static str = "id, tracking_number, sender_name, sender_address, \
        recipient_name, recipient_address, status, current_location, weight, description, \
        latitude, longitude, last_seen_at, version, created_at, updated_at, owner_id, recipient_email, \
        event_seq, destination, promised_by, eta";
}

/// The courier a package rides with, as the package's read names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CourierAboard {
    pub id: Uuid,
    /// `null` while the courier has never reported.
    pub presence: Option<crate::couriers::Presence>,
    pub battery_pct: Option<f64>,
    pub last_fix_at: Option<DateTime<Utc>>,
}
