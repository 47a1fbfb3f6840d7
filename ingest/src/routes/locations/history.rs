//! `GET /api/v1/packages/{tn}/locations`: the history, newest first, in the
//! original shape; `?since=`, `?until=` (RFC 3339) and `?limit=` (default 100,
//! at most 1000).

use super::super::AppState;
use crate::http::{ApiError, Query, Reply};
use hyper::StatusCode;
use shared::domain::TrackingNumber;
use shared::locations::render::LocationView;
use shared::locations::stored::{self, HistoryDoc};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/locations", tag = "locations",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::schemas::HistoryQuery),
    responses(
        (status = 200, description = "The history, newest first", body = Vec<LocationView>),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid since, until or limit", body = crate::http::error::ErrorBody),
        (status = 503, description = "A store is unavailable", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    tracking_number: TrackingNumber,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    let tn = tracking_number.as_str();
    let action = shared::auth::Action::ReadPackage;
    crate::authn::require_package(state, caller, action, &tracking_number).await?;
    let (since, until) = (query.time("since")?, query.time("until")?);
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    if shared::packages::reads::head(state.reads.for_caller(caller).await, tn)
        .await?
        .is_none()
    {
        return Err(ApiError::package_not_found(tn));
    }
    let history = super::collection(state, stored::HISTORY);
    let read = history
        .find(stored::package_history(tn, since, until))
        .sort(stored::newest_first())
        .limit(limit);
    let found: Vec<HistoryDoc> = super::found("history", read).await?;
    let views: Vec<LocationView> = found.iter().map(LocationView::from).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}
