//! `GET /api/v1/packages/{tn}/events`: the status history, oldest first.

use crate::http::Reply;
use crate::routes::{package_not_found, AppState};
use hyper::StatusCode;
use shared::domain::TrackingNumber;

const MAX_EVENTS: i64 = 1000;

pub async fn get(state: &AppState, tracking_number: TrackingNumber) -> Result<Reply, Reply> {
    match crate::reads::status_events(&state.pool, tracking_number.as_str(), MAX_EVENTS).await? {
        Some(events) => Ok(Reply::json(StatusCode::OK, &events)),
        None => Err(package_not_found(tracking_number.as_str())),
    }
}
