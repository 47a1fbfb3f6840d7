//! Domain types. Each newtype is parsed once at the edge (HTTP or wire) and is
//! valid by construction afterwards.

mod coordinates;
mod email;
mod reject;
mod status;
mod text;
mod tracking_number;

pub use coordinates::{Coordinates, CoordinatesError, EARTH_RADIUS_M};
pub use email::{Email, EmailError};
pub use reject::RejectReason;
pub use status::{PackageStatus, TransitionError, UnknownStatus};
pub use text::{BoundedText, TextError};
pub use tracking_number::{TrackingNumber, TrackingNumberError};
