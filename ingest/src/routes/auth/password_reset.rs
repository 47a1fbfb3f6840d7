//! `POST /api/v1/auth/password-reset` mails a reset link to an address's
//! account (the answer is the same whether there is one); `POST
//! /api/v1/auth/password-reset/confirm` sets the new password with it,
//! once, within 30 minutes, and ends every session of the account.

use super::envelope;
use super::verify_email::bad_link;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::outcome_or_rejection;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::auth::links::{self, Purpose};
use shared::domain::Email;
use shared::wire::{AccountOutcome, Command, Event, RequestPasswordReset, ResetPassword};

/// A reset request's body: the address to send the link to.
pub fn parse_request(body: &serde_json::Map<String, serde_json::Value>) -> Result<Email, ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_with("email", Email::parse);
    fields.finish()?;
    email.ok_or_else(|| ApiError::invalid_fields("email is required"))
}

/// A confirmation's body: the link's token and the new password.
pub fn parse_confirm(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(String, String), ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_str("token").map(str::to_owned);
    let secret = fields.required_with("password", crate::routes::accounts::new_password);
    fields.finish()?;
    match (token, secret) {
        (Some(token), Some(secret)) => Ok((token, secret)),
        _ => Err(ApiError::invalid_fields("token and password are required")),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth",
    request_body = crate::schemas::ResetRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::SignInLimited, crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: if the address has an account, a link is mailed to it", body = super::Acknowledged),
        (status = 422, description = "Missing or malformed email", body = crate::http::error::InvalidFields)))]
pub async fn request(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let principal = crate::authn::principal_of(&request, None);
    let trace = crate::routes::trace_of(&request);
    let body = json_object(request, &state.body).await?;
    let email = parse_request(&body)?;
    let command = Command::RequestPasswordReset(RequestPasswordReset { email });
    crate::routes::write::accept(state, &envelope(principal, trace, command)).await?;
    Ok(super::acknowledged(
        "if this address has an account, a reset link is on its way",
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordReset {
    /// Always `reset`: sign in with the new password.
    status: &'static str,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth",
    request_body = crate::schemas::ResetConfirmRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::SignInLimited, crate::http::documented::DependencyDown,
        (status = 200, description = "The password is changed and every session of the account ended", body = PasswordReset),
        (status = 400, description = "Malformed JSON, or a link that is malformed, expired or already used", body = crate::http::error::ErrorBody),
        (status = 422, description = "A password under 10 characters, or missing fields", body = crate::http::error::InvalidFields)))]
pub async fn confirm(state: &AppState, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let principal = crate::authn::principal_of(&request, None);
    let trace = crate::routes::trace_of(&request);
    let body = json_object(request, &state.body).await?;
    let (token, secret) = parse_confirm(&body)?;
    let claims = links::verify(
        &state.signing,
        &token,
        Purpose::ResetPassword,
        shared::auth::token::now(),
    )
    .map_err(|e| bad_link(e.to_string()))?;
    let Some(password_version) = claims.password_version else {
        return Err(bad_link("the link is malformed"));
    };
    let password_hash = state
        .hashing
        .hash(secret)
        .await
        .map_err(super::password_refusal)?;
    let command = Command::ResetPassword(ResetPassword {
        user_id: claims.user_id,
        nonce: claims.nonce,
        password_version,
        password_hash,
    });
    match outcome_or_rejection(state, &envelope(principal, trace, command)).await? {
        Ok(Event::Account(AccountOutcome::AccountChanged(_))) => Ok(Reply::json(
            StatusCode::OK,
            &PasswordReset { status: "reset" },
        )),
        Ok(other) => Err(crate::routes::write::unexpected(other)),
        Err((_, message)) => Err(bad_link(message)),
    }
}
