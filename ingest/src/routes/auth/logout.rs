//! `POST /api/v1/auth/logout`: ends the caller's session. Its refresh token
//! stops working at once, its access tokens on every ingest and broadcaster
//! within seconds.

use super::envelope;
use crate::http::{ApiError, Reply};
use crate::routes::write::outcome;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use shared::auth::Caller;
use shared::wire::{AccountOutcome, Command, EndSession, Event};

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        crate::http::documented::DependencyDown,
        (status = 204, description = "Signed out: the session ended"),
        (status = 409, description = "The caller has no session (a device key, or authentication disabled)", body = crate::http::error::ErrorBody)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let Some(session_id) = caller.session_id else {
        return Err(ApiError::conflict("this caller has no session to end"));
    };
    let principal = crate::authn::principal_of(&request, Some(caller));
    let trace = crate::routes::trace_of(&request);
    let command = Command::EndSession(EndSession { session_id });
    match outcome(state, &envelope(principal, trace, command)).await? {
        Event::Account(AccountOutcome::SessionEnded { .. }) => {
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        other => Err(crate::routes::write::unexpected(other)),
    }
}
