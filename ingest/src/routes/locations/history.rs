//! `GET /api/v1/packages/{tn}/locations`: the history, newest first, in the
//! original shape; `?since=`, `?until=` (RFC 3339) and `?limit=` (default 100,
//! at most 1000).

use super::super::AppState;
use crate::http::{ApiError, Query, Reply};
use chrono::{DateTime, Utc};
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
    let db = state.reads.for_caller(caller).await;
    let Some((package_id, _)) = shared::packages::reads::id_and_head(db, tn).await? else {
        return Err(ApiError::package_not_found(tn));
    };
    let history = super::collection(state, stored::HISTORY);
    let read = history
        .find(stored::package_history(tn, since, until))
        .sort(stored::newest_first())
        .limit(limit);
    let found: Vec<HistoryDoc> = super::found("history", read).await?;
    let mut views: Vec<LocationView> = found.iter().map(LocationView::from).collect();
    // The courier's trail runs through other recipients' streets: dispatch
    // sees every stretch, a courier their own stretches only.
    let reader = shared::packages::aboard::Reader::of(Some(caller));
    if reader != shared::packages::aboard::Reader::Outsider {
        views.extend(carried(state, db, package_id, reader, (since, until), limit).await?);
    }
    // Newest first across both; the same limit.
    views.sort_by_key(|v| std::cmp::Reverse(v.timestamp()));
    views.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Reply::json(StatusCode::OK, &views))
}

/// The package's trail aboard couriers: each courier's fixes during the
/// package's stretches with them (newest first, at most `limit`).
async fn carried(
    state: &AppState,
    db: &sqlx::PgPool,
    package_id: uuid::Uuid,
    reader: shared::packages::aboard::Reader,
    (since, until): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    limit: i64,
) -> Result<Vec<LocationView>, ApiError> {
    use shared::couriers::stored::{carried_history, CourierHistoryDoc, COURIER_HISTORY};
    let mut stretches = shared::couriers::reads::stretches(db, package_id).await?;
    stretches.retain(|s| shared::packages::aboard::sees_trail(reader, s.courier_id));
    let Some(filter) = carried_history(&stretches, since, until) else {
        return Ok(Vec::new());
    };
    let collection = super::collection(state, COURIER_HISTORY);
    let read = collection
        .find(filter)
        .sort(stored::newest_first())
        .limit(limit);
    let found: Vec<CourierHistoryDoc> = super::found("courier history", read).await?;
    let package = Some(package_id.to_string());
    Ok(found.iter().map(|doc| doc.view(package.clone())).collect())
}
