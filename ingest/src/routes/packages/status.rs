//! `PUT /api/v1/packages/{tn}/status`: publish `UpdateStatus`; the worker
//! enforces the status flow (404 unknown, 409 forbidden).

use super::create::unexpected;
use super::{submit, WriteOptions, ADDRESS_MAX};
use crate::http::fields::Fields;
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::domain::{Coordinates, PackageStatus, TrackingNumber};
use shared::wire::{Command, Event, UpdateStatus};

#[derive(Serialize)]
struct Updated {
    message: &'static str,
    status: PackageStatus,
}

pub async fn put(
    state: &AppState,
    tracking_number: TrackingNumber,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    let options = WriteOptions::from_request(&request)?;
    let body = json_object(request, state.body).await?;
    let command = parse(tracking_number, &body)?;
    submit(
        state,
        options.envelope(options.event_id(), Command::UpdateStatus(command), &body),
        &options,
        |event| match event {
            Event::StatusChanged(changed) => Reply::json(
                StatusCode::OK,
                &Updated {
                    message: "Package status updated successfully",
                    status: changed.status,
                },
            ),
            other => unexpected(other),
        },
    )
    .await
}

fn parse(
    tracking_number: TrackingNumber,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<UpdateStatus, Reply> {
    let mut fields = Fields::new(body);
    let status = fields.required_str("status").and_then(|raw| {
        raw.parse::<PackageStatus>()
            .map_err(|e| fields.invalid("status", e.to_string()))
            .ok()
    });
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
        return Err(Reply::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "status is required",
        ));
    };
    Ok(UpdateStatus {
        tracking_number,
        status,
        location,
        coordinates,
    })
}
