//! `GET /api/v1/couriers` (every enabled courier with their latest fix,
//! battery and presence), `GET /api/v1/couriers/{id}` and
//! `GET /api/v1/couriers/{id}/locations` (a courier's trail, newest first,
//! with a package history's query: `since`, `until`, `limit`). Dispatchers
//! and admins read every courier; a courier reads their own.

use crate::authn;
use crate::http::{ApiError, Query, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::{self, Action};
use shared::auth::Caller;
use shared::couriers::reads::{self, CourierView};
use shared::couriers::stored::{self, CourierHistoryDoc};
use shared::locations::render::LocationView;
use uuid::Uuid;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/couriers", tag = "couriers",
    params(("limit" = Option<i64>, Query, description = "1 to 1000, default 100"),
           ("after" = Option<String>, Query, description = "The `name` and `id` of the previous page's last courier, as `name|id`")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Couriers by name, with their latest fix and presence", body = Vec<CourierView>),
        (status = 403, description = "Not a dispatcher or admin", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid limit or after", body = crate::http::error::ErrorBody)))]
pub async fn list(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    if !policy::sees_all(caller.role) {
        return Err(ApiError::Forbidden(
            "only dispatchers and admins list couriers".into(),
        ));
    }
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = query.parsed::<String>("after", "after must be name|id")?;
    let after = match after.as_deref().map(|a| a.rsplit_once('|')) {
        None => None,
        Some(Some((name, id))) => Some((
            name,
            id.parse::<Uuid>()
                .map_err(|_| ApiError::invalid_fields("after must be name|id"))?,
        )),
        Some(None) => return Err(ApiError::invalid_fields("after must be name|id")),
    };
    let couriers = reads::list(&state.pool, &state.presence, after, limit).await?;
    Ok(Reply::json(StatusCode::OK, &couriers))
}

#[utoipa::path(get, path = "/api/v1/couriers/{id}", tag = "couriers",
    params(("id" = Uuid, Path, description = "The courier's account id")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The courier, with their latest fix and presence", body = CourierView),
        (status = 404, description = "No such courier (or not yours)", body = crate::http::error::ErrorBody)))]
pub async fn one(state: &AppState, caller: &Caller, raw: &str) -> Result<Reply, ApiError> {
    let courier_id = visible_courier(caller, raw)?;
    match reads::one(&state.pool, &state.presence, courier_id).await? {
        Some(courier) => Ok(Reply::json(StatusCode::OK, &courier)),
        None => Err(not_found(raw)),
    }
}

#[utoipa::path(get, path = "/api/v1/couriers/{id}/locations", tag = "couriers",
    params(("id" = Uuid, Path, description = "The courier's account id"), crate::schemas::HistoryQuery),
    responses(
        (status = 200, description = "The courier's fixes, newest first", body = Vec<LocationView>),
        (status = 404, description = "No such courier (or not yours)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid since, until or limit", body = crate::http::error::ErrorBody),
        (status = 503, description = "A store is unavailable", body = crate::http::error::ErrorBody)))]
pub async fn history(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    let courier_id = visible_courier(caller, raw)?;
    let (since, until) = (query.time("since")?, query.time("until")?);
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    if reads::one(&state.pool, &state.presence, courier_id)
        .await?
        .is_none()
    {
        return Err(not_found(raw));
    }
    let collection = state
        .mongo
        .database(&state.mongo_database)
        .collection(stored::COURIER_HISTORY);
    let read = collection
        .find(stored::courier_history(courier_id, since, until))
        .sort(shared::locations::stored::newest_first())
        .limit(limit);
    let found: Vec<CourierHistoryDoc> =
        crate::routes::locations::found("courier history", read).await?;
    let views: Vec<LocationView> = found.iter().map(|d| d.view(None)).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}

/// The courier the path names, if the caller may read them: anyone for
/// dispatchers and admins, themselves for a courier (others read as 404).
fn visible_courier(caller: &Caller, raw: &str) -> Result<Uuid, ApiError> {
    authn::require(caller, Action::ReadCouriers)?;
    let id: Uuid = raw.parse().map_err(|_| not_found(raw))?;
    match policy::decide_courier(caller, id) {
        policy::Decision::Allow => Ok(id),
        _ => Err(not_found(raw)),
    }
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("courier {raw} not found"))
}
