//! `/api/v1/deliveries/{id}`: read one (dispatchers, admins, its courier),
//! and `PATCH` it: `{"courier_id"?, "stops"?, "status"?: "completed"}` to
//! reassign, reorder or complete.

use super::{optional_stops, optional_uuid};
use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use shared::auth::policy::{self, Action};
use shared::auth::Caller;
use shared::auth::DeliveryView;
use shared::wire::{AccountOutcome, Command, Event, UpdateDelivery};
use uuid::Uuid;

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("delivery {raw} not found"))
}

#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = Uuid, Path, description = "The delivery's id")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 404, description = "No such delivery, or not the caller's", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, raw: &str) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ReadDeliveries)?;
    let id: Uuid = raw.parse().map_err(|_| not_found(raw))?;
    match DeliveryView::load(&state.pool, id).await? {
        // A courier sees their own runs only; another's is as good as none.
        Some(view)
            if policy::role_may(caller.role, Action::ManageDeliveries)
                || view.courier_id == Some(caller.user_id) =>
        {
            Ok(Reply::json(StatusCode::OK, &view))
        }
        _ => Err(not_found(raw)),
    }
}

#[utoipa::path(patch, path = "/api/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = Uuid, Path, description = "The delivery's id")),
    request_body = crate::schemas::DeliveryPatch,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Changed", body = DeliveryView),
        (status = 404, description = "No such delivery", body = crate::http::error::ErrorBody),
        (status = 409, description = "The delivery is completed", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or nothing to change", body = crate::http::error::InvalidFields)))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDeliveries)?;
    let id: Uuid = raw.parse().map_err(|_| not_found(raw))?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let (courier_id, stops, complete) = parse_change(&body)?;
    let command = Command::UpdateDelivery(UpdateDelivery {
        delivery_id: id,
        courier_id,
        stops,
        complete,
    });
    submit(
        state,
        options.envelope(options.event_id(), command, &body),
        &options,
        |event| match event {
            Event::Account(AccountOutcome::DeliveryChanged(view)) => {
                Ok(Reply::json(StatusCode::OK, &view))
            }
            other => Err(unexpected(other)),
        },
    )
    .await
}

/// A run change's body: a new courier, new stops, and/or `completed`.
#[allow(clippy::type_complexity)]
pub fn parse_change(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<
    (
        Option<Uuid>,
        Option<Vec<shared::domain::TrackingNumber>>,
        bool,
    ),
    ApiError,
> {
    let mut fields = Fields::new(body);
    let courier_id = optional_uuid(&mut fields, "courier_id");
    let stops = optional_stops(&mut fields, body);
    let complete = match fields.optional_str("status") {
        Some("completed") => true,
        Some(_) => {
            fields.invalid(
                "status",
                "the only status a delivery can be given is completed",
            );
            false
        }
        None => false,
    };
    if courier_id.is_none() && stops.is_none() && !complete && fields_are_empty(body) {
        fields.invalid("body", "give courier_id, stops or status");
    }
    fields.finish()?;
    Ok((courier_id, stops, complete))
}

/// Whether the body names none of the fields a PATCH may change.
fn fields_are_empty(body: &serde_json::Map<String, serde_json::Value>) -> bool {
    ["courier_id", "stops", "status"]
        .iter()
        .all(|f| body.get(*f).is_none_or(serde_json::Value::is_null))
}
