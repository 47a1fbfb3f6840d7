//! `POST /api/v1/auth/login`: email and password for a session's tokens.
//!
//! Wrong email and wrong password get the same answer, after the same work
//! (an unknown email is checked against a decoy hash), so neither the message
//! nor the timing tells which accounts exist. Failures slow the account
//! down, whatever address they come from ([`shared::auth::sign_in_delay`]).
//! The session itself is started by the workers, like every write.

use super::{envelope, tokens_for};
use crate::authn::unauthorized;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::outcome;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;
use shared::auth::{AuthConfig, Caller};
use shared::domain::Email;
use shared::wire::{AccountOutcome, Command, Event, StartSession};
use uuid::Uuid;

const REFUSED: &str = "invalid email or password";

/// The body's email and password, as given (an unknown or malformed email
/// is answered like a wrong password, not here).
pub fn parse(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(String, String), ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_str("email").map(str::to_owned);
    let secret = fields.required_str("password").map(str::to_owned);
    fields.finish()?;
    match (email, secret) {
        (Some(email), Some(secret)) => Ok((email, secret)),
        _ => Err(ApiError::invalid_fields("email and password are required")),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = crate::schemas::LoginRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::DependencyDown,
        (status = 429, description = "Too many attempts from this network, or too many failures for this account", body = crate::http::error::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 200, description = "Signed in", body = super::TokenResponse),
        (status = 401, description = "Wrong email or password, or a disabled account", body = crate::http::error::ErrorBody),
        (status = 409, description = "Authentication is disabled (AUTH_DISABLED=true): no token is needed", body = crate::http::error::ErrorBody),
        (status = 422, description = "Missing fields", body = crate::http::error::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let mut principal = crate::authn::principal_of(&request, None);
    let trace = crate::routes::trace_of(&request);
    let body = json_object(request, &state.body).await?;
    let (email, secret) = parse(&body)?;
    if matches!(state.auth, AuthConfig::Disabled) {
        return Err(super::disabled());
    }
    let account = checked(state, &email, secret).await?;
    let session_id = Uuid::new_v4();
    let (refresh_token, refresh_hash) = shared::auth::session::new_refresh_token(session_id);
    let caller = Caller {
        user_id: account.id,
        role: account.role,
        email: None,
        device_id: None,
        session_id: None,
    };
    let address = principal.address.take();
    principal = caller.principal();
    principal.address = address;
    let command = Command::StartSession(StartSession {
        session_id,
        user_id: account.id,
        refresh_hash,
        expires_at: chrono::Utc::now() + state.refresh_ttl,
        password_version: shared::auth::links::password_version(&account.password_hash),
    });
    match outcome(state, &envelope(principal, trace, command)).await? {
        Event::Account(AccountOutcome::SessionIssued { session_id, user }) => {
            tokens_for(state, session_id, &user, refresh_token)
        }
        other => Err(crate::routes::write::unexpected(other)),
    }
}

/// The account the email and password sign in to, or why not.
async fn checked(
    state: &AppState,
    email: &str,
    secret: String,
) -> Result<shared::auth::users::SignInAccount, ApiError> {
    // Per account, whatever the address: after a few failures each attempt
    // waits longer (the same for an email with no account). The attempt is
    // counted before the password is checked, so parallel guesses count.
    let delays = &state.sign_in_delays;
    if let Some(left) = delays.attempt(email).await {
        let seconds = left.as_secs().max(1);
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed sign-ins for this account; retry in {seconds} s"),
            retry_after: seconds,
        });
    }
    let account = match Email::parse(email) {
        Ok(email) => shared::auth::users::sign_in_account(&state.pool, &email).await?,
        Err(_) => None,
    };
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = state
        .hashing
        .verify(secret, stored_hash)
        .await
        .map_err(super::password_refusal)?;
    let Some(account) = account.filter(|_| matches) else {
        return Err(unauthorized(REFUSED));
    };
    delays.succeeded(email).await;
    if account.disabled {
        return Err(unauthorized("this account is disabled"));
    }
    Ok(account)
}
