//! `/api/v1/geofences`: zones packages and couriers enter, leave, dwell in
//! or pass through. Admins and dispatchers draw them ([`write`]: create,
//! change, delete, through the package pool into MongoDB) and read them
//! ([`read`]: one, all, or those at a point, from MongoDB).

pub mod read;
pub mod schemas;
pub mod write;

use crate::http::ApiError;
use uuid::Uuid;

fn zone_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("geofence {raw} not found"))
}

/// The zones collection.
fn zones(
    state: &crate::routes::AppState,
) -> mongodb::Collection<shared::geofences::stored::GeofenceDoc> {
    state
        .mongo
        .database(&state.mongo_database)
        .collection(shared::geofences::stored::GEOFENCES)
}
