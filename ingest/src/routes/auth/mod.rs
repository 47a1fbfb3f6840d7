//! `/api/v1/auth/...`: signing up, signing in and out, refreshing a
//! session, verifying an email, resetting a password. All but sign-out and
//! the resend of a verification link are public; each answer says no more
//! than it must (a sign-up or a reset request answers the same whether the
//! email has an account or not).

pub mod login;
pub mod logout;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod verify_email;

pub use super::accounts::{acknowledged, password_refusal, Acknowledged};

use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use serde::Serialize;
use shared::auth::{Caller, UserView};
use shared::wire::{Command, Envelope, Principal, TraceContext};
use uuid::Uuid;

/// A signed-in session's tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Exchanged at `POST /api/v1/auth/refresh` for a new pair; works once.
    refresh_token: String,
    /// Seconds until the refresh token expires if it is not used.
    refresh_expires_in: u64,
}

/// The answer to a sign-in or a refresh: an access token for the account as
/// it stands, and the session's new refresh token.
pub fn tokens_for(
    state: &AppState,
    session_id: Uuid,
    user: &UserView,
    refresh_token: String,
) -> Result<Reply, ApiError> {
    let shared::auth::AuthConfig::Enabled(tokens) = &state.auth else {
        return Err(disabled());
    };
    let caller = Caller {
        user_id: user.id,
        role: user.role,
        email: user
            .email_verified
            .then(|| shared::domain::Email::parse(&user.email).ok())
            .flatten(),
        device_id: None,
        session_id: Some(session_id),
    };
    let issued = tokens.issue(&caller).map_err(|error| {
        tracing::error!(%error, "cannot issue a token");
        ApiError::Internal("internal error")
    })?;
    Ok(Reply::json(
        StatusCode::OK,
        &TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in.as_secs(),
            refresh_token,
            refresh_expires_in: state.refresh_ttl.as_secs(),
        },
    ))
}

/// 409: with `AUTH_DISABLED=true` there are no tokens to issue.
pub fn disabled() -> ApiError {
    ApiError::conflict("authentication is disabled (AUTH_DISABLED=true): no token is needed")
}

/// The envelope of an account command sent on a request's behalf.
pub fn envelope(principal: Principal, trace: TraceContext, command: Command) -> Envelope<Command> {
    let mut envelope = Envelope::new(Uuid::now_v7(), chrono::Utc::now(), principal, command);
    envelope.trace = trace;
    envelope
}
