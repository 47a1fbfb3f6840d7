//! `/api/v1/users`: admins create accounts of any role (`POST`, sharing the
//! account command with sign-up: [`accounts::create_account`]), list them (`GET`),
//! and change a role or disable an account (`PATCH /users/{id}`), which
//! takes effect on every ingest and broadcaster within seconds.

use super::accounts;
use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};
use shared::auth::policy::Action;
use shared::auth::{Caller, Role};
use shared::wire::{Command, Event};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/users", tag = "auth",
    request_body = crate::schemas::NewUserRequest,
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
    accounts::create_account(state, Some(caller), request, true).await
}

#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    params(crate::schemas::UsersQuery),
    responses(
        (status = 200, description = "Accounts, newest first", body = Vec<shared::auth::UserView>),
        (status = 422, description = "A bad role, limit or cursor", body = crate::http::response::ErrorBody),
        (status = 503, description = "The database is unavailable", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds")))))]
pub async fn list(state: &AppState, caller: &Caller, query: Option<&str>) -> Result<Reply, Reply> {
    authn::require(caller, Action::ManageUsers)?;
    let limit = crate::http::request::limit_param(query, 100, 1000)?;
    let role = match crate::http::request::query_param(query, "role").filter(|r| !r.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.parse::<Role>()
                .map_err(|e| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?,
        ),
    };
    let before = match crate::http::request::query_param(query, "cursor").filter(|c| !c.is_empty())
    {
        None => None,
        Some(raw) => Some(crate::reads::Cursor::parse(&raw).ok_or_else(|| {
            Reply::error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cursor is not one this API gave",
            )
        })?),
    };
    let users: Vec<shared::auth::UserView> = sqlx::query_as(&format!(
        "SELECT {} FROM users WHERE ($1::text IS NULL OR role = $1) \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4",
        shared::auth::USER_COLUMNS
    ))
    .bind(role.map(|r| r.as_str()))
    .bind(before.as_ref().map(|c| c.created_at))
    .bind(before.as_ref().map(|c| c.id))
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last())
        .flatten()
        .map(|last| crate::reads::Cursor {
            created_at: last.created_at,
            id: last.id,
        });
    let reply = Reply::json(StatusCode::OK, &users);
    Ok(match next {
        Some(cursor) => {
            let mut link = format!("/api/v1/users?limit={limit}&cursor={}", cursor.encode());
            if let Some(role) = role {
                link.push_str(&format!("&role={role}"));
            }
            reply.header("link", &format!("<{link}>; rel=\"next\""))
        }
        None => reply,
    })
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The account")),
    request_body = crate::schemas::UserPatch,
    responses(
        (status = 200, description = "Changed: every session of the account is checked again within seconds (a disabled account's end)", body = shared::auth::UserView),
        (status = 202, description = "Accepted, outcome not awaited", body = crate::routes::write::Accepted),
        (status = 400, description = "Malformed JSON", body = crate::http::response::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::response::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = crate::http::response::ErrorBody),
        (status = 409, description = "An admin's own account", body = crate::http::response::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::response::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::http::response::ErrorBody),
        (status = 422, description = "Invalid fields, or none", body = crate::http::response::InvalidFields),
        (status = 503, description = "The broker cannot confirm", body = crate::http::response::ErrorBody,
            headers(("retry-after" = String, description = "Seconds")))))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    authn::require(caller, Action::ManageUsers)?;
    let Ok(user_id) = id.parse::<Uuid>() else {
        return Err(Reply::error(
            StatusCode::NOT_FOUND,
            format!("user {id} not found"),
        ));
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
        Event::AccountChanged(user) => Reply::json(StatusCode::OK, &user),
        other => unexpected(other),
    })
    .await
}

/// An account change's body: a new role, and/or disabled or enabled.
pub fn parse_change(body: &Map<String, Value>) -> Result<(Option<Role>, Option<bool>), Reply> {
    let mut fields = Fields::new(body);
    let role = fields.optional_str("role").and_then(|raw| {
        raw.parse::<Role>()
            .map_err(|e| fields.invalid("role", e.to_string()))
            .ok()
    });
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
