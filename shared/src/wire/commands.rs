use crate::domain::{BoundedText, Coordinates, PackageStatus, TrackingNumber};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What ingest asks the workers to do. Every field is already validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Command {
    CreatePackage(CreatePackage),
    UpdateStatus(UpdateStatus),
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateStatus {
    pub tracking_number: TrackingNumber,
    pub status: PackageStatus,
    pub location: Option<BoundedText>,
    pub coordinates: Option<Coordinates>,
}

impl Command {
    pub fn tracking_number(&self) -> &TrackingNumber {
        match self {
            Self::CreatePackage(c) => &c.tracking_number,
            Self::UpdateStatus(c) => &c.tracking_number,
        }
    }

    /// The word used in routing keys and the AMQP `type` property.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreatePackage(_) => "create",
            Self::UpdateStatus(_) => "status",
        }
    }
}
