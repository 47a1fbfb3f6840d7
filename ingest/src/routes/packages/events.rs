//! `GET /api/v1/packages/{tn}/events`: the status history, oldest first.

use crate::authn;
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::TrackingNumber;

const MAX_EVENTS: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/events", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The status history, oldest first", body = Vec<crate::reads::StatusEventView>),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
) -> Result<Reply, ApiError> {
    authn::require_package(state, caller, Action::ReadPackage, &tracking_number).await?;
    match crate::reads::status_events(&state.pool, tracking_number.as_str(), MAX_EVENTS).await? {
        Some(events) => Ok(Reply::json(StatusCode::OK, &events)),
        None => Err(ApiError::package_not_found(tracking_number.as_str())),
    }
}
