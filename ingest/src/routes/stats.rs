//! `GET /api/v1/stats`: package counts, and the command backlog when known.

use super::AppState;
use crate::http::Reply;
use hyper::StatusCode;

pub async fn get(state: &AppState) -> Result<Reply, Reply> {
    let stats = crate::reads::stats(&state.pool).await?;
    Ok(Reply::json(StatusCode::OK, &stats))
}
