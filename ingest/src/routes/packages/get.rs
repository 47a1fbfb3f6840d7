//! `GET /api/v1/packages/{tn}`: cache-aside on Redis (`X-Cache: HIT|MISS`),
//! falling back to PostgreSQL. A Redis outage costs only the cache.

use crate::authn;
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use bytes::Bytes;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::TrackingNumber;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The package", body = shared::packages::PackageView,
            headers(("x-cache" = String, description = "HIT or MISS"))),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
) -> Result<Reply, ApiError> {
    authn::require_package(state, caller, Action::ReadPackage, &tracking_number).await?;
    let tn = tracking_number.as_str();
    let (json, cache) = match state.cache.get_package(tn).await {
        Ok(Some(json)) => (json, "HIT"),
        Ok(None) => (filled(state, caller, tn).await?, "MISS"),
        Err(error) => {
            tracing::debug!(%error, "cache read failed; reading the database");
            (filled(state, caller, tn).await?, "MISS")
        }
    };
    let json = aboard(state, caller, json).await?;
    Ok(Reply::raw_json(StatusCode::OK, Bytes::from(json)).header("x-cache", cache))
}

/// The view from the database, put in the cache.
async fn filled(state: &AppState, caller: &Caller, tn: &str) -> Result<String, ApiError> {
    let Some(package) =
        shared::packages::reads::view(state.reads.for_caller(caller).await, tn).await?
    else {
        return Err(ApiError::package_not_found(tn));
    };
    let json = serde_json::to_string(&package).map_err(|_| ApiError::Internal("internal error"))?;
    if let Err(error) = state.cache.put_package(tn, package.version, &json).await {
        tracing::debug!(%error, "cache fill failed");
    }
    Ok(json)
}

/// A package on the road may ride with a courier: its view then names the
/// courier and moves with their latest fix (one more indexed query, only
/// for packages in transit or out for delivery; the cached view stays the
/// package's own).
async fn aboard(state: &AppState, caller: &Caller, json: String) -> Result<String, ApiError> {
    use shared::packages::aboard as follow;
    let Ok(mut view) = serde_json::from_str::<shared::packages::PackageView>(&json) else {
        return Ok(json);
    };
    let reader = follow::Reader::of(Some(caller));
    if !follow::may_ride(&view) || !reader.may_learn(view.status) {
        return Ok(json);
    }
    let db = state.reads.for_caller(caller).await;
    let Some(carrier) = follow::carrier(db, &view.tracking_number).await? else {
        return Ok(json);
    };
    let exposure = follow::exposure(reader, view.status, carrier.courier_id);
    if exposure == follow::Exposure::Nothing {
        return Ok(json);
    }
    follow::aboard(
        &mut view,
        &carrier,
        &state.presence,
        chrono::Utc::now(),
        exposure,
    );
    serde_json::to_string(&view).map_err(|_| ApiError::Internal("internal error"))
}
