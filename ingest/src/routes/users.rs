//! `POST /api/v1/users`: an admin creates an account of any role. Shares
//! the account command with sign-up ([`create_account`]).

use crate::authn;
use crate::http::fields::Fields;
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::packages::create::unexpected;
use crate::routes::packages::{submit, WriteOptions, NAME_MAX};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};
use shared::auth::policy::Action;
use shared::auth::{password, Caller, Role};
use shared::domain::Email;
use shared::wire::{Command, Event, RegisterUser};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/users", tag = "auth",
    request_body = crate::openapi::NewUserRequest,
    responses(
        (status = 400, description = "Malformed JSON", body = crate::http::response::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = crate::http::response::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::response::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::http::response::ErrorBody),
        (status = 503, description = "A dependency is unavailable", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds"))),
        (status = 201, description = "Created", body = shared::auth::UserView),
        (status = 401, description = "No or bad credentials", body = crate::http::response::ErrorBody),
        (status = 403, description = "Not an admin", body = crate::http::response::ErrorBody),
        (status = 409, description = "The email has an account", body = crate::http::response::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::http::response::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    authn::require(caller, Action::ManageUsers)?;
    create_account(state, Some(caller), request, true).await
}

/// Validates, hashes the password (off the runtime), publishes
/// `RegisterUser` and answers 201 with the account once a worker made it.
/// `with_role`: the body may name a role (admins); otherwise a customer.
pub async fn create_account(
    state: &AppState,
    caller: Option<&Caller>,
    request: Request<Incoming>,
    with_role: bool,
) -> Result<Reply, Reply> {
    let options = WriteOptions::from_request(&request, caller)?;
    let body = json_object(request, state.body).await?;
    let (email, name, secret, role) = parse(&body, with_role)?;
    let password_hash = password::hash(secret)
        .await
        .map_err(crate::routes::auth::password_refusal)?;
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
    submit(state, envelope, &options, |event| match event {
        Event::UserRegistered(user) => Reply::json(StatusCode::CREATED, &user),
        other => unexpected(other),
    })
    .await
}

fn parse(
    body: &Map<String, Value>,
    with_role: bool,
) -> Result<(Email, shared::domain::BoundedText, String, Role), Reply> {
    let mut fields = Fields::new(body);
    let email = fields.required_str("email").and_then(|raw| {
        Email::parse(raw)
            .map_err(|e| fields.invalid("email", e.to_string()))
            .ok()
    });
    let secret = fields.required_str("password").and_then(|raw| {
        let length = raw.chars().count();
        if length < password::MIN_LEN {
            fields.invalid(
                "password",
                format!("must be at least {} characters", password::MIN_LEN),
            );
            None
        } else if length > password::MAX_LEN {
            fields.invalid(
                "password",
                format!("must be at most {} characters", password::MAX_LEN),
            );
            None
        } else {
            Some(raw.to_owned())
        }
    });
    let name = fields.required_text("name", NAME_MAX);
    let role = if with_role {
        fields.required_str("role").and_then(|raw| {
            raw.parse::<Role>()
                .map_err(|e| fields.invalid("role", e.to_string()))
                .ok()
        })
    } else {
        Some(Role::Customer)
    };
    fields.finish()?;
    match (email, name, secret, role) {
        (Some(email), Some(name), Some(secret), Some(role)) => Ok((email, name, secret, role)),
        _ => Err(Reply::invalid_fields("missing required fields")),
    }
}
