//! Drawing, changing and deleting zones: checked here, applied by the
//! package pool (which writes MongoDB and tells the location pool).

use super::zone_id;
use crate::authn;
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Map;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::geofences::parse::zone_fields;
use shared::geofences::Zone;
use shared::wire::{
    AccountOutcome, Command, CreateGeofence, DeleteGeofence, Event, UpdateGeofence,
};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/geofences", tag = "geofences",
    request_body = super::schemas::GeofenceRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 201, description = "Drawn", body = super::schemas::Geofence),
        (status = 422, description = "Invalid fields", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageGeofences)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let fields = zone_fields(&body, true).map_err(ApiError::fields)?;
    let event_id = options.event_id();
    let zone = Zone::drawn(
        Uuid::new_v5(&event_id, b"geofence"),
        fields,
        chrono::Utc::now(),
    )
    .ok_or_else(|| ApiError::invalid_fields("name and a circle or polygon are required"))?;
    let command = Command::CreateGeofence(CreateGeofence { zone });
    submit(
        state,
        options.envelope(event_id, command, &body),
        &options,
        |event| zone_reply(event, StatusCode::CREATED),
    )
    .await
}

#[utoipa::path(patch, path = "/api/v1/geofences/{id}", tag = "geofences",
    params(("id" = Uuid, Path, description = "The zone's id")),
    request_body = super::schemas::GeofencePatch,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Changed", body = super::schemas::Geofence),
        (status = 404, description = "No such zone", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or nothing to change", body = crate::http::error::InvalidFields)))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageGeofences)?;
    let zone_id = zone_id(raw)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let changes = zone_fields(&body, false).map_err(ApiError::fields)?;
    if changes == Default::default() {
        return Err(ApiError::invalid_fields(
            "nothing to change: give name, circle, polygon, dwell_s, debounce_s, tracking_numbers or courier_ids",
        ));
    }
    let command = Command::UpdateGeofence(UpdateGeofence { zone_id, changes });
    submit(
        state,
        options.envelope(options.event_id(), command, &body),
        &options,
        |event| zone_reply(event, StatusCode::OK),
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/geofences/{id}", tag = "geofences",
    params(("id" = Uuid, Path, description = "The zone's id")),
    responses(
        crate::routes::write::Queued,
        (status = 204, description = "Deleted: no one stands in it any more"),
        (status = 404, description = "No such zone", body = crate::http::error::ErrorBody)))]
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageGeofences)?;
    let zone_id = zone_id(raw)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let command = Command::DeleteGeofence(DeleteGeofence { zone_id });
    let envelope = options.envelope(options.event_id(), command, &Map::new());
    submit(state, envelope, &options, |event| match event {
        Event::Account(AccountOutcome::GeofenceDeleted { .. }) => {
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        other => Err(unexpected(other)),
    })
    .await
}

fn zone_reply(event: Event, status: StatusCode) -> Result<Reply, ApiError> {
    match event {
        Event::Account(AccountOutcome::GeofenceChanged(zone)) => Ok(Reply::json(status, &zone)),
        other => Err(unexpected(other)),
    }
}
