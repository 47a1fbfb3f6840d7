//! `POST /api/v1/ws-ticket`: a one-time ticket to open a WebSocket with, so
//! a browser never puts its token in a URL ([`shared::auth::ws_ticket`]).

use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use serde::Serialize;
use shared::auth::ws_ticket::{self, Ticket};
use shared::auth::Caller;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TicketResponse {
    /// For `ws://<broadcaster>/ws?ticket=<ticket>`; works once.
    ticket: String,
    /// Seconds the ticket waits to be used.
    expires_in: u64,
}

#[utoipa::path(post, path = "/api/v1/ws-ticket", tag = "auth",
    responses(
        (status = 200, description = "A ticket for one WebSocket connection", body = TicketResponse),
        (status = 409, description = "The caller has no session (a device key, or authentication disabled)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Redis is unavailable", body = crate::http::error::ErrorBody,
            headers(("retry-after" = String, description = "Seconds")))))]
pub async fn post(state: &AppState, caller: &Caller) -> Result<Reply, ApiError> {
    let (Some(session_id), shared::auth::AuthConfig::Enabled(tokens)) =
        (caller.session_id, &state.auth)
    else {
        return Err(ApiError::conflict(
            "this caller has no session to open a WebSocket with",
        ));
    };
    let ticket = Ticket {
        user_id: caller.user_id,
        session_id,
        expires_at: shared::auth::token::now() + tokens.ttl().as_secs(),
    };
    let issued = ws_ticket::issue(&state.cache, &state.signing, &ticket)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot store a WebSocket ticket");
            ApiError::unavailable("ticket store")
        })?;
    Ok(Reply::json(
        StatusCode::OK,
        &TicketResponse {
            ticket: issued,
            expires_in: ws_ticket::TTL.as_secs(),
        },
    ))
}
