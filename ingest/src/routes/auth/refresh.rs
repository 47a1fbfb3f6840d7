//! `POST /api/v1/auth/refresh`: a refresh token for a new pair. Each refresh
//! token works once; one that comes back after it was used ends its whole
//! session (it was copied), for the thief and the owner alike. A retry
//! within [`session::RETRY_GRACE`] (the client lost the answer) is the same
//! command, with the same event id and successor, and gets the same answer.

use super::{envelope, tokens_for};
use crate::authn::unauthorized;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::outcome;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;
use shared::auth::session;
use shared::wire::{AccountOutcome, Command, Event, RefreshSession};

const NOT_VALID: &str = "the refresh token is not valid; sign in again";

/// The body's refresh token, as presented.
pub fn parse(body: &serde_json::Map<String, serde_json::Value>) -> Result<String, ApiError> {
    let mut fields = Fields::new(body);
    let presented = fields.required_str("refresh_token").map(str::to_owned);
    fields.finish()?;
    presented.ok_or_else(|| ApiError::invalid_fields("refresh_token is required"))
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = crate::schemas::RefreshRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::SignInLimited, crate::http::documented::DependencyDown,
        (status = 200, description = "A new access token and refresh token (the old refresh token no longer works)", body = super::TokenResponse),
        (status = 401, description = "Not a refresh token, a spent one (the session ends), or an ended session", body = crate::http::error::ErrorBody),
        (status = 409, description = "Authentication is disabled", body = crate::http::error::ErrorBody),
        (status = 422, description = "Missing refresh_token", body = crate::http::error::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let principal = crate::authn::principal_of(&request, None);
    let trace = crate::routes::trace_of(&request);
    let body = json_object(request, &state.body).await?;
    let presented = parse(&body)?;
    if matches!(state.auth, shared::auth::AuthConfig::Disabled) {
        return Err(super::disabled());
    }
    let Some(session_id) = session::session_of_refresh_token(&presented) else {
        return Err(unauthorized(NOT_VALID));
    };
    let (next, next_hash) = session::successor_token(&state.signing, session_id, &presented);
    let presented_hash = shared::auth::api_key::hash(&presented);
    let mut envelope = envelope(
        principal,
        trace,
        Command::RefreshSession(RefreshSession {
            session_id,
            presented_hash: presented_hash.clone(),
            next_hash,
            expires_at: chrono::Utc::now() + state.refresh_ttl,
        }),
    );
    envelope.event_id = session::refresh_event_id(&presented_hash);
    match outcome(state, &envelope).await? {
        Event::Account(AccountOutcome::SessionIssued { session_id, user }) => {
            tokens_for(state, session_id, &user, next)
        }
        Event::Account(AccountOutcome::SessionEnded { .. }) => Err(unauthorized(
            "this refresh token was already used: the session is ended; sign in again",
        )),
        other => Err(crate::routes::write::unexpected(other)),
    }
}
