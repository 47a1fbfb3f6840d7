//! Registering, changing, deleting an endpoint and rotating its secret:
//! checked here, applied by the package pool.

use super::parse::fields;
use super::{owned, secrets, with_secret};
use crate::authn;
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Map;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::wire::{
    AccountOutcome, Command, CreateWebhook, DeleteWebhook, Event, RotateWebhookSecret,
    UpdateWebhook,
};
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = super::schemas::WebhookRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 201, description = "Registered; the secret is in this answer only", body = super::WebhookWithSecret),
        (status = 409, description = "The account has its 20 webhooks already", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or a URL that is not https or resolves to an internal address", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    secrets(state)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let found = fields(state, caller, &body, true).await?;
    let (Some(url), Some(events)) = (found.url, found.events) else {
        return Err(ApiError::invalid_fields("url and events are required"));
    };
    let event_id = options.event_id();
    let command = Command::CreateWebhook(CreateWebhook {
        webhook_id: Uuid::new_v5(&event_id, b"webhook"),
        url,
        events,
        packages: match found.packages {
            shared::wire::Patch::Set(list) => Some(list),
            _ => None,
        },
        description: match found.description {
            shared::wire::Patch::Set(text) => Some(text),
            _ => None,
        },
    });
    submit(
        state,
        options.envelope(event_id, command, &body),
        &options,
        |event| match event {
            Event::Account(AccountOutcome::WebhookChanged(webhook)) => Ok(Reply::json(
                StatusCode::CREATED,
                &with_secret(state, webhook)?,
            )),
            other => Err(unexpected(other)),
        },
    )
    .await
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = super::schemas::WebhookPatch,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Changed", body = shared::webhooks::view::WebhookView),
        (status = 404, description = "No such endpoint of the caller's", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or nothing to change", body = crate::http::error::InvalidFields)))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhook = owned(state, caller, raw).await?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let found = fields(state, caller, &body, false).await?;
    if found.is_empty() {
        return Err(ApiError::invalid_fields(
            "nothing to change: give url, events, packages, description or paused",
        ));
    }
    let command = Command::UpdateWebhook(UpdateWebhook {
        webhook_id: webhook.id,
        url: found.url,
        events: found.events,
        packages: found.packages,
        description: found.description,
        paused: found.paused,
    });
    submit(
        state,
        options.envelope(options.event_id(), command, &body),
        &options,
        |event| match event {
            Event::Account(AccountOutcome::WebhookChanged(webhook)) => {
                Ok(Reply::json(StatusCode::OK, &webhook))
            }
            other => Err(unexpected(other)),
        },
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        crate::routes::write::Queued,
        (status = 204, description = "Deleted, with its delivery log"),
        (status = 404, description = "No such endpoint of the caller's", body = crate::http::error::ErrorBody)))]
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhook = owned(state, caller, raw).await?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let command = Command::DeleteWebhook(DeleteWebhook {
        webhook_id: webhook.id,
    });
    let envelope = options.envelope(options.event_id(), command, &Map::new());
    submit(state, envelope, &options, |event| match event {
        Event::Account(AccountOutcome::WebhookDeleted { .. }) => {
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        other => Err(unexpected(other)),
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        crate::routes::write::Queued,
        (status = 200, description = "A new secret; the previous one keeps signing beside it for a day", body = super::WebhookWithSecret),
        (status = 404, description = "No such endpoint of the caller's", body = crate::http::error::ErrorBody)))]
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    secrets(state)?;
    let webhook = owned(state, caller, raw).await?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let command = Command::RotateWebhookSecret(RotateWebhookSecret {
        webhook_id: webhook.id,
    });
    let envelope = options.envelope(options.event_id(), command, &Map::new());
    submit(state, envelope, &options, |event| match event {
        Event::Account(AccountOutcome::WebhookChanged(webhook)) => {
            Ok(Reply::json(StatusCode::OK, &with_secret(state, webhook)?))
        }
        other => Err(unexpected(other)),
    })
    .await
}
