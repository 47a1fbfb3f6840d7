//! `POST /api/v1/auth/verify-email`: the token of the link mailed at
//! sign-up (or asked for again with `POST /api/v1/auth/verify-email/resend`),
//! presented by the account's own session, proves the account owns its
//! email; from then on, packages addressed to it are the account's to see.
//!
//! Both halves are needed. The token alone is not enough: mail scanners
//! follow links, and a stranger who signed up with someone else's address
//! must not be verified by the victim's mailbox opening the link (the link
//! is a page, `/verify-email#token=…`, that asks to sign in and then calls
//! this). The session alone is not enough either: the stranger has the
//! password but never sees the mail.

use super::envelope;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::outcome_or_rejection;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::auth::links::{self, Purpose};
use shared::auth::Caller;
use shared::wire::{AccountOutcome, Command, Event, ResendVerification, VerifyEmail};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Verified {
    /// Always `verified`.
    status: &'static str,
    email: String,
}

#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = crate::schemas::LinkTokenRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::SignInLimited, crate::http::documented::DependencyDown,
        (status = 200, description = "The email is verified", body = Verified),
        (status = 400, description = "Malformed JSON, or a link that is malformed, expired, already used or not for this account", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid credentials: sign in to the account first", body = crate::http::error::ErrorBody),
        (status = 409, description = "The caller has no account (a device key, or authentication disabled)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Missing token", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let (principal, trace) = from_account(caller, &request)?;
    let body = json_object(request, &state.body).await?;
    let token = parse(&body)?;
    apply(state, caller, principal, trace, &token).await
}

/// The body's link token, as presented.
pub fn parse(body: &serde_json::Map<String, serde_json::Value>) -> Result<String, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_str("token").map(str::to_owned);
    fields.finish()?;
    token.ok_or_else(|| ApiError::invalid_fields("token is required"))
}

/// Who asks, and the request's trace, for a request only an account's own
/// session may make (a device key or a disabled-auth caller has no address
/// to verify).
fn from_account(
    caller: &Caller,
    request: &Request<Incoming>,
) -> Result<(shared::wire::Principal, shared::wire::TraceContext), ApiError> {
    if caller.session_id.is_none() {
        return Err(no_account());
    }
    Ok((
        crate::authn::principal_of(request, Some(caller)),
        crate::routes::trace_of(request),
    ))
}

fn no_account() -> ApiError {
    ApiError::conflict("this caller has no account to verify")
}

/// A link's problem: 400, in words that say what to do.
pub fn bad_link(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

async fn apply(
    state: &AppState,
    caller: &Caller,
    principal: shared::wire::Principal,
    trace: shared::wire::TraceContext,
    token: &str,
) -> Result<Reply, ApiError> {
    let claims = links::verify(
        &state.signing,
        token,
        Purpose::VerifyEmail,
        shared::auth::token::now(),
    )
    .map_err(|e| bad_link(e.to_string()))?;
    // The same words as any other refused link: the answer must not tell a
    // caller whose account a token is for.
    if claims.user_id != caller.user_id {
        return Err(bad_link("the link is not for this account"));
    }
    let email = claims
        .email
        .as_deref()
        .and_then(|e| shared::domain::Email::parse(e).ok())
        .ok_or_else(|| bad_link("the link is malformed"))?;
    let claims_email = email.as_str().to_owned();
    let command = Command::VerifyEmail(VerifyEmail {
        user_id: claims.user_id,
        email,
        nonce: claims.nonce,
    });
    let verified = |email: String| {
        Reply::json(
            StatusCode::OK,
            &Verified {
                status: "verified",
                email,
            },
        )
    };
    match outcome_or_rejection(state, &envelope(principal, trace, command)).await? {
        Ok(Event::Account(AccountOutcome::AccountChanged(user))) => Ok(verified(user.email)),
        // Verified before: nothing changed.
        Ok(Event::Account(AccountOutcome::Acknowledged)) => Ok(verified(claims_email)),
        Ok(other) => Err(crate::routes::write::unexpected(other)),
        Err((_, message)) => Err(bad_link(message)),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    responses(
        crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: a new link is mailed unless the email is verified already or a mail went out in the last minutes", body = super::Acknowledged),
        (status = 409, description = "The caller has no account (a device key, or authentication disabled)", body = crate::http::error::ErrorBody)))]
pub async fn resend(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let (principal, trace) = from_account(caller, &request)?;
    let command = Command::ResendVerification(ResendVerification {
        user_id: caller.user_id,
    });
    crate::routes::write::accept(state, &envelope(principal, trace, command)).await?;
    Ok(super::acknowledged(
        "if your email is not verified yet, a new link is on its way",
    ))
}
