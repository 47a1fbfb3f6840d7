//! `GET /api/v1/packages/{tn}/locations`: the history, newest first, in the
//! original shape; `?since=`, `?until=` (RFC 3339) and `?limit=` (default 100,
//! at most 1000).

use super::super::{package_not_found, AppState};
use crate::http::request::query_param;
use crate::http::Reply;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::Document;
use shared::domain::TrackingNumber;
use shared::locations::render::LocationView;
use shared::locations::stored::{self, HistoryDoc};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/locations", tag = "locations",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::schemas::HistoryQuery),
    responses(
        (status = 200, description = "The history, newest first", body = Vec<LocationView>),
        (status = 404, description = "No such package", body = crate::http::response::ErrorBody),
        (status = 422, description = "Invalid since, until or limit", body = crate::http::response::ErrorBody),
        (status = 503, description = "A store is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    tracking_number: TrackingNumber,
    query: Option<&str>,
) -> Result<Reply, Reply> {
    crate::authn::require_package(
        state,
        caller,
        shared::auth::Action::ReadPackage,
        &tracking_number,
    )
    .await?;
    let invalid = |m: String| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match query_param(query, name).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => DateTime::parse_from_rfc3339(&raw)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid(format!("{name} must be an RFC 3339 timestamp"))),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    let limit = crate::http::request::limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    if crate::reads::package(&state.pool, tracking_number.as_str())
        .await?
        .is_none()
    {
        return Err(package_not_found(tracking_number.as_str()));
    }
    let history = super::collection::<Document>(state, stored::HISTORY);
    let found: Vec<Document> = async {
        history
            .find(stored::package_history(
                tracking_number.as_str(),
                since,
                until,
            ))
            .sort(stored::newest_first())
            .limit(limit)
            .await?
            .try_collect()
            .await
    }
    .await
    .map_err(|error: mongodb::error::Error| {
        tracing::warn!(%error, "location history query failed");
        Reply::unavailable("location store")
    })?;
    let found: Vec<HistoryDoc> = stored::readable(found);
    let views: Vec<LocationView> = found.iter().map(LocationView::from).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}
