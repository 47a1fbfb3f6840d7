//! `GET /api/v1/packages/{tn}/events`: the status history, oldest first;
//! with `?include=notices`, the package's notices (zones, arrival) too,
//! everything in `seq` order.

use crate::authn;
use crate::http::Query;
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::TrackingNumber;
use shared::packages::history::StatusEventView;
use shared::packages::notices::NoticeView;

const MAX_EVENTS: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/events", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"),
        ("include" = Option<String>, Query, description = "`notices`: also the zone and arrival notices")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The status history, oldest first (with `include=notices`, notices among them)", body = Vec<shared::packages::history::StatusEventView>),
        (status = 422, description = "An unknown include", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    let notices = match query.text("include").as_deref() {
        None => false,
        Some("notices") => true,
        Some(_) => return Err(ApiError::invalid("include must be notices")),
    };
    authn::require_package(state, caller, Action::ReadPackage, &tracking_number).await?;
    let tn = tracking_number.as_str();
    let pool = state.reads.for_caller(caller).await;
    let Some((package_id, _)) = shared::packages::reads::id_and_head(pool, tn).await? else {
        return Err(ApiError::package_not_found(tn));
    };
    let history = shared::packages::history::status_history(pool, package_id, MAX_EVENTS).await?;
    let events: Vec<StatusEventView> = history.into_iter().map(StatusEventView::from).collect();
    if !notices {
        return Ok(Reply::json(StatusCode::OK, &events));
    }
    let noticed = shared::packages::notices::of_package(pool, package_id, MAX_EVENTS).await?;
    Ok(Reply::json(StatusCode::OK, &in_seq_order(events, noticed)))
}

/// Status events and notices, by `seq` (status events from before
/// numbering, without one, first).
fn in_seq_order(
    events: Vec<StatusEventView>,
    noticed: Vec<shared::packages::notices::NoticeRow>,
) -> Vec<serde_json::Value> {
    let statuses = events
        .into_iter()
        .map(|e| (e.seq.unwrap_or(0), serde_json::to_value(e)));
    let notices = noticed.into_iter().map(|n| {
        let view = NoticeView::from(n);
        (view.seq, serde_json::to_value(view))
    });
    let mut all: Vec<(i64, serde_json::Value)> = statuses
        .chain(notices)
        .filter_map(|(seq, value)| Some((seq, value.ok()?)))
        .collect();
    all.sort_by_key(|(seq, _)| *seq);
    all.into_iter().map(|(_, value)| value).collect()
}
