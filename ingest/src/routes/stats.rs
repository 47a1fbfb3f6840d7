//! `GET /api/v1/stats`: package counts, and the command backlog when known.

use super::AppState;
use crate::http::Reply;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;

#[utoipa::path(get, path = "/api/v1/stats", tag = "operations",
    responses(
        (status = 200, description = "Package counts", body = crate::reads::Stats),
        (status = 503, description = "The database is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller) -> Result<Reply, Reply> {
    crate::authn::require(caller, Action::ReadStats)?;
    let stats = crate::reads::stats(&state.pool).await?;
    Ok(Reply::json(StatusCode::OK, &stats))
}
