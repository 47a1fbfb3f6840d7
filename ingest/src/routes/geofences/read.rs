//! Reading zones from MongoDB: one, all (newest change first), or those
//! containing a point (`?latitude=&longitude=`, the 2dsphere index).

use super::{not_found, zone_id, zones};
use crate::authn;
use crate::http::{ApiError, Query, Reply};
use crate::routes::AppState;
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::doc;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::Coordinates;
use shared::geofences::stored::{at_point, GeofenceDoc};
use shared::geofences::Zone;

#[utoipa::path(get, path = "/api/v1/geofences", tag = "geofences",
    params(
        ("latitude" = Option<f64>, Query, description = "With longitude: only the zones containing this point"),
        ("longitude" = Option<f64>, Query, description = "With latitude"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)")),
    responses(
        (status = 200, description = "Zones, the most recently changed first", body = Vec<super::schemas::Geofence>),
        (status = 422, description = "Invalid point or limit", body = crate::http::error::ErrorBody),
        (status = 503, description = "Zones cannot be read now", body = crate::http::error::ErrorBody)))]
pub async fn list(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageGeofences)?;
    let limit = query.limit(100, 1000)?;
    let latitude = query.parsed::<f64>("latitude", "latitude must be a number")?;
    let longitude = query.parsed::<f64>("longitude", "longitude must be a number")?;
    let filter = match (latitude, longitude) {
        (None, None) => doc! { "deleted": false },
        (Some(latitude), Some(longitude)) => {
            let point = Coordinates::new(latitude, longitude)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            at_point(point.latitude(), point.longitude())
        }
        _ => {
            return Err(ApiError::invalid(
                "give both latitude and longitude, or neither",
            ))
        }
    };
    let documents: Vec<GeofenceDoc> = zones(state)
        .find(filter)
        .sort(doc! { "updated_at": -1 })
        .limit(limit)
        .await
        .map_err(unavailable)?
        .try_collect()
        .await
        .map_err(unavailable)?;
    let zones: Vec<Zone> = documents.iter().filter_map(GeofenceDoc::zone).collect();
    Ok(Reply::json(StatusCode::OK, &zones))
}

#[utoipa::path(get, path = "/api/v1/geofences/{id}", tag = "geofences",
    params(("id" = uuid::Uuid, Path, description = "The zone's id")),
    responses(
        (status = 200, description = "The zone", body = super::schemas::Geofence),
        (status = 404, description = "No such zone", body = crate::http::error::ErrorBody),
        (status = 503, description = "Zones cannot be read now", body = crate::http::error::ErrorBody)))]
pub async fn one(state: &AppState, caller: &Caller, raw: &str) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageGeofences)?;
    let id = zone_id(raw)?;
    let document = zones(state)
        .find_one(doc! { "_id": id.to_string() })
        .await
        .map_err(unavailable)?;
    match document.and_then(|d| d.zone()) {
        Some(zone) => Ok(Reply::json(StatusCode::OK, &zone)),
        None => Err(not_found(raw)),
    }
}

fn unavailable(error: mongodb::error::Error) -> ApiError {
    tracing::warn!(%error, "cannot read zones");
    ApiError::unavailable("zones")
}
