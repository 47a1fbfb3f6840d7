//! `POST /api/v1/auth/login`: email and password for an access token.
//!
//! Wrong email and wrong password get the same answer, after the same work
//! (an unknown email is checked against a decoy hash), so neither the message
//! nor the timing tells which accounts exist.

use crate::authn::unauthorized;
use crate::http::fields::Fields;
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::auth::{password, AuthConfig, Caller, Role};
use shared::domain::Email;
use uuid::Uuid;

const REFUSED: &str = "invalid email or password";

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = crate::openapi::LoginRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = crate::http::response::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = crate::http::response::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::response::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::http::response::ErrorBody),
        (status = 503, description = "A dependency is unavailable", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = crate::http::response::ErrorBody),
        (status = 409, description = "Authentication is disabled (AUTH_DISABLED=true): no token is needed", body = crate::http::response::ErrorBody),
        (status = 422, description = "Missing fields", body = crate::http::response::InvalidFields)))]
pub async fn post(state: &AppState, request: Request<Incoming>) -> Result<Reply, Reply> {
    let body = json_object(request, state.body).await?;
    let mut fields = Fields::new(&body);
    let email = fields.required_str("email").map(str::to_owned);
    let secret = fields.required_str("password").map(str::to_owned);
    fields.finish()?;
    let (Some(email), Some(secret)) = (email, secret) else {
        return Err(Reply::invalid_fields("email and password are required"));
    };
    let AuthConfig::Enabled(tokens) = &state.auth else {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            "authentication is disabled (AUTH_DISABLED=true): no token is needed",
        ));
    };
    let account = match Email::parse(&email) {
        Ok(email) => find(state, &email).await?,
        Err(_) => None,
    };
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = password::verify(secret, stored_hash)
        .await
        .map_err(super::password_refusal)?;
    let Some(account) = account.filter(|_| matches) else {
        return Err(unauthorized(REFUSED));
    };
    let issued = tokens.issue(&account.caller).map_err(|error| {
        tracing::error!(%error, "cannot issue a token");
        Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    Ok(Reply::json(
        StatusCode::OK,
        &TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in.as_secs(),
        },
    ))
}

struct Account {
    caller: Caller,
    password_hash: String,
}

/// The account that may sign in with this email (one with a password and a
/// person's role).
async fn find(state: &AppState, email: &Email) -> Result<Option<Account>, Reply> {
    let row: Option<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT id, role, password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&state.pool)
            .await?;
    Ok(row.and_then(|(user_id, role, hash)| {
        Some(Account {
            caller: Caller {
                user_id,
                role: role.parse::<Role>().ok()?,
                email: Some(email.clone()),
                device_id: None,
            },
            password_hash: hash?,
        })
    }))
}
