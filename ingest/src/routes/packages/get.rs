//! `GET /api/v1/packages/{tn}`: cache-aside on ingest's near cache and
//! Redis (`X-Cache: HIT|MISS`), falling back to PostgreSQL. A Redis outage
//! costs only the caches.

use crate::authn;
use crate::http::{ApiError, Reply};
use crate::near::NearView;
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
    let (view, cache) = view(state, caller, tracking_number.as_str()).await?;
    let json = aboard(state, caller, view).await?;
    Ok(Reply::raw_json(StatusCode::OK, json).header("x-cache", cache))
}

/// The package's view: from this process's near cache, else Redis, else
/// the database (each kept in the tiers before it, under their rules).
async fn view(
    state: &AppState,
    caller: &Caller,
    tn: &str,
) -> Result<(NearView, &'static str), ApiError> {
    if let Some(view) = state.near.get(tn) {
        return Ok((view, "HIT"));
    }
    let ticket = state.near.ticket(tn);
    let (json, current, cache) = match state.cache.get_package(tn).await {
        Ok(Some(json)) => (json, true, "HIT"),
        Ok(None) => {
            let (json, stored) = filled(state, caller, tn).await?;
            (json, stored, "MISS")
        }
        Err(error) => {
            tracing::debug!(%error, "cache read failed; reading the database");
            (filled(state, caller, tn).await?.0, false, "MISS")
        }
    };
    let view = NearView::of(json);
    if current {
        state.near.fill(ticket, tn, view.clone());
    }
    Ok((view, cache))
}

/// The view from the database, put in the cache; whether Redis took it
/// (it refuses a view older than its tombstone).
async fn filled(state: &AppState, caller: &Caller, tn: &str) -> Result<(String, bool), ApiError> {
    let Some(package) =
        shared::packages::reads::view(state.reads.for_caller(caller).await, tn).await?
    else {
        return Err(ApiError::package_not_found(tn));
    };
    let json = serde_json::to_string(&package).map_err(|_| ApiError::Internal("internal error"))?;
    let stored = match state.cache.put_package(tn, package.version, &json).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::debug!(%error, "cache fill failed");
            false
        }
    };
    Ok((json, stored))
}

/// A package on the road may ride with a courier: its view then names the
/// courier and moves with their latest fix (one more indexed query, only
/// for packages in transit or out for delivery; the cached view stays the
/// package's own).
async fn aboard(state: &AppState, caller: &Caller, near: NearView) -> Result<Bytes, ApiError> {
    use shared::packages::aboard as follow;
    let json = near.json;
    if !near.may_ride {
        return Ok(json);
    }
    let Ok(mut view) = serde_json::from_slice::<shared::packages::PackageView>(&json) else {
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
    serde_json::to_vec(&view)
        .map(Bytes::from)
        .map_err(|_| ApiError::Internal("internal error"))
}
