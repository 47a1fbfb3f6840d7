//! `PUT /api/v1/packages/{tn}/status`: publish `UpdateStatus`; the worker
//! enforces the status flow (404 unknown, 409 forbidden).

use super::ADDRESS_MAX;
use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::{submit, unexpected, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::{Coordinates, PackageStatus, TrackingNumber};
use shared::wire::{Command, Event, PackageEvent, UpdateStatus};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Updated {
    message: &'static str,
    status: PackageStatus,
}

#[utoipa::path(put, path = "/api/v1/packages/{tracking_number}/status", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::schemas::WriteHeaders),
    request_body = crate::schemas::StatusUpdateRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Updated", body = Updated),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody),
        (status = 409, description = "The status flow forbids this change", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or an Idempotency-Key reused for another request", body = crate::http::error::InvalidFields)))]
pub async fn put(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require_package(state, caller, Action::UpdateStatus, &tracking_number).await?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let command = parse(tracking_number, &body)?;
    submit(
        state,
        options.envelope(options.event_id(), Command::UpdateStatus(command), &body),
        &options,
        |event| match event {
            Event::Package(PackageEvent::StatusChanged(changed)) => Ok(Reply::json(
                StatusCode::OK,
                &Updated {
                    message: "Package status updated successfully",
                    status: changed.status,
                },
            )),
            other => Err(unexpected(other)),
        },
    )
    .await
}

pub fn parse(
    tracking_number: TrackingNumber,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<UpdateStatus, ApiError> {
    let mut fields = Fields::new(body);
    let status = fields.required_with("status", str::parse::<PackageStatus>);
    let location = fields.optional_text("location", ADDRESS_MAX);
    let latitude = fields.optional_number("latitude");
    let longitude = fields.optional_number("longitude");
    let coordinates = match (latitude, longitude) {
        (Some(lat), Some(lon)) => Coordinates::new(lat, lon)
            .map_err(|e| match e {
                shared::domain::CoordinatesError::Latitude => {
                    fields.invalid("latitude", e.to_string())
                }
                shared::domain::CoordinatesError::Longitude => {
                    fields.invalid("longitude", e.to_string())
                }
            })
            .ok(),
        (None, None) => None,
        (Some(_), None) => {
            fields.invalid("longitude", "is required when latitude is given");
            None
        }
        (None, Some(_)) => {
            fields.invalid("latitude", "is required when longitude is given");
            None
        }
    };
    fields.finish()?;
    let Some(status) = status else {
        return Err(ApiError::invalid_fields("status is required"));
    };
    Ok(UpdateStatus {
        tracking_number,
        status,
        location,
        coordinates,
    })
}
