//! `/api/v1/users`: admins create accounts of any role (`POST`, sharing the
//! account command with sign-up: [`accounts::create_account`]), list them (`GET`),
//! and change a role or disable an account (`PATCH /users/{id}`), which
//! takes effect on every ingest and broadcaster within seconds.

use super::accounts;
use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Cursor, Query, Reply};
use crate::routes::write::{submit, unexpected, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};
use shared::auth::policy::Action;
use shared::auth::{Caller, Role};
use shared::wire::{AccountOutcome, Command, Event};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/users", tag = "auth",
    request_body = crate::schemas::NewUserRequest,
    responses(
        crate::http::documented::BodyErrors, crate::http::documented::DependencyDown,
        (status = 201, description = "Created", body = shared::auth::UserView),
        (status = 401, description = "No or bad credentials", body = crate::http::error::ErrorBody),
        (status = 403, description = "Not an admin", body = crate::http::error::ErrorBody),
        (status = 409, description = "The email has an account", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageUsers)?;
    accounts::create_account(state, Some(caller), request, true).await
}

#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    params(crate::schemas::UsersQuery),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Accounts, newest first", body = Vec<shared::auth::UserView>),
        (status = 422, description = "A bad role, limit or cursor", body = crate::http::error::ErrorBody)))]
pub async fn list(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageUsers)?;
    let limit = query.limit(100, 1000)?;
    let role = query.value::<Role>("role")?;
    let before = query.parsed::<Cursor>("cursor", "cursor is not one this API gave")?;
    let after = before.map(|c| c.key());
    let users = shared::auth::users::list(&state.pool, role, after, limit).await?;
    let next = Cursor::after_full_page(&users, limit, |u| (u.created_at, u.id));
    let reply = Reply::json(StatusCode::OK, &users);
    Ok(match next {
        Some(cursor) => {
            let role = role.map(|r| format!("&role={r}")).unwrap_or_default();
            reply.header(
                "link",
                &cursor.link(&format!("/api/v1/users?limit={limit}"), &role),
            )
        }
        None => reply,
    })
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The account")),
    request_body = crate::schemas::UserPatch,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Changed: every session of the account is checked again within seconds (a disabled account's end)", body = shared::auth::UserView),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 409, description = "An admin's own account", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or none", body = crate::http::error::InvalidFields)))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageUsers)?;
    let Ok(user_id) = id.parse::<Uuid>() else {
        return Err(ApiError::not_found(format!("user {id} not found")));
    };
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let (role, disabled) = parse_change(&body)?;
    let event_id = options.event_id();
    let command = Command::UpdateUser(shared::wire::UpdateUser {
        user_id,
        role,
        disabled,
    });
    let envelope = options.envelope(event_id, command, &body);
    submit(state, envelope, &options, |event| match event {
        Event::Account(AccountOutcome::AccountChanged(user)) => {
            Ok(Reply::json(StatusCode::OK, &user))
        }
        other => Err(unexpected(other)),
    })
    .await
}

/// An account change's body: a new role, and/or disabled or enabled.
pub fn parse_change(body: &Map<String, Value>) -> Result<(Option<Role>, Option<bool>), ApiError> {
    let mut fields = Fields::new(body);
    let role = fields.optional_with("role", str::parse::<Role>);
    let disabled = match body.get("disabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            fields.invalid("disabled", "must be true or false");
            None
        }
    };
    if role.is_none() && disabled.is_none() && !body.contains_key("role") {
        fields.invalid("role", "give role and/or disabled");
    }
    fields.finish()?;
    Ok((role, disabled))
}
