//! `GET /api/v1/packages/{tn}/events`: the status history, oldest first.

use crate::authn;
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::TrackingNumber;
use shared::packages::history::StatusEventView;

const MAX_EVENTS: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/events", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The status history, oldest first", body = Vec<shared::packages::history::StatusEventView>),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
) -> Result<Reply, ApiError> {
    authn::require_package(state, caller, Action::ReadPackage, &tracking_number).await?;
    let tn = tracking_number.as_str();
    let pool = state.reads.for_caller(caller).await;
    let Some((package_id, _)) = shared::packages::reads::id_and_head(pool, tn).await? else {
        return Err(ApiError::package_not_found(tn));
    };
    let history = shared::packages::history::status_history(pool, package_id, MAX_EVENTS).await?;
    let events: Vec<StatusEventView> = history.into_iter().map(StatusEventView::from).collect();
    Ok(Reply::json(StatusCode::OK, &events))
}
