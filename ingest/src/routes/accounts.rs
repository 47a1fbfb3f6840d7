//! Accounts as sign-up and admins make them, and the answers every account
//! endpoint shares (password refusals, the uniform `202`).

use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::packages::NAME_MAX;
use crate::routes::write::{submit, unexpected, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::auth::password::{self, PasswordError};
use shared::auth::{Caller, Role};
use shared::domain::Email;
use shared::wire::{AccountOutcome, Command, Event, RegisterUser};
use uuid::Uuid;

/// Validates, hashes the password (off the runtime), publishes
/// `RegisterUser` and answers 201 with the account once a worker made it.
/// `with_role`: the body may name a role (admins); otherwise a customer.
pub async fn create_account(
    state: &AppState,
    caller: Option<&Caller>,
    request: Request<Incoming>,
    with_role: bool,
) -> Result<Reply, ApiError> {
    let options = WriteOptions::from_request(&request, caller)?;
    let body = json_object(request, &state.body).await?;
    let (email, name, secret, role) = parse_account(&body, with_role)?;
    let password_hash = state.hashing.hash(secret).await.map_err(password_refusal)?;
    let event_id = options.event_id();
    let command = Command::RegisterUser(RegisterUser {
        user_id: Uuid::new_v5(&event_id, b"user"),
        email,
        name,
        password_hash,
        role,
    });
    // The fingerprint leaves the password out: it is a digest of the request
    // kept by the workers, and a password has no business there.
    let mut fingerprinted = body.clone();
    fingerprinted.remove("password");
    let envelope = options.envelope(event_id, command, &fingerprinted);
    if caller.is_none() {
        // A sign-up: nothing in the answer may tell whether the email has
        // an account, so it does not wait for the outcome.
        crate::routes::write::accept(state, &envelope).await?;
        return Ok(acknowledged(
            "check your email: it says how to finish signing up",
        ));
    }
    submit(state, envelope, &options, |event| match event {
        Event::Account(AccountOutcome::UserRegistered(user)) => {
            Ok(Reply::json(StatusCode::CREATED, &user))
        }
        other => Err(unexpected(other)),
    })
    .await
}

/// A new password, or what is wrong with it.
pub fn new_password(raw: &str) -> Result<String, String> {
    let length = raw.chars().count();
    if length < password::MIN_LEN {
        Err(format!("must be at least {} characters", password::MIN_LEN))
    } else if length > password::MAX_LEN {
        Err(format!("must be at most {} characters", password::MAX_LEN))
    } else {
        Ok(raw.to_owned())
    }
}

/// What a client is told when its password could not be hashed or checked:
/// 503 while every hashing slot stays taken, else an internal error.
pub fn password_refusal(error: PasswordError) -> ApiError {
    match error {
        PasswordError::Busy => ApiError::unavailable("password checking"),
        error => {
            tracing::error!(%error, "password hashing failed");
            ApiError::Internal("internal error")
        }
    }
}

/// `202 {"status": "accepted", "message": ...}`: the same answer however
/// the request turns out.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    /// Always `accepted`.
    status: &'static str,
    message: &'static str,
}

pub fn acknowledged(message: &'static str) -> Reply {
    Reply::json(
        StatusCode::ACCEPTED,
        &Acknowledged {
            status: "accepted",
            message,
        },
    )
}

/// A new account's body: email, name, password and (`with_role`) role.
pub fn parse_account(
    body: &Map<String, Value>,
    with_role: bool,
) -> Result<(Email, shared::domain::BoundedText, String, Role), ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_with("email", Email::parse);
    let secret = fields.required_with("password", new_password);
    let name = fields.required_text("name", NAME_MAX);
    let role = if with_role {
        fields.required_with("role", str::parse::<Role>)
    } else {
        Some(Role::Customer)
    };
    fields.finish()?;
    match (email, name, secret, role) {
        (Some(email), Some(name), Some(secret), Some(role)) => Ok((email, name, secret, role)),
        _ => Err(ApiError::invalid_fields("missing required fields")),
    }
}
