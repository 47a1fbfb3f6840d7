//! An account's endpoints, one endpoint, its delivery log, and a
//! redeliver of one delivery (the same bytes, a new attempt number).

use super::owned;
use crate::authn;
use crate::http::{ApiError, Query, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::{sees_all, Action};
use shared::auth::Caller;
use shared::webhooks::view::{DeliveryView, WebhookView};
use shared::webhooks::SendRequest;
use shared::wire::Envelope;
use uuid::Uuid;

fn unavailable(error: sqlx::Error) -> ApiError {
    tracing::warn!(%error, "cannot read webhooks");
    ApiError::unavailable("webhooks")
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The caller's endpoints, oldest first", body = Vec<WebhookView>)))]
pub async fn list(state: &AppState, caller: &Caller) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhooks = WebhookView::of_owner(&state.pool, caller.user_id)
        .await
        .map_err(unavailable)?;
    Ok(Reply::json(StatusCode::OK, &webhooks))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint (never its secret)", body = WebhookView),
        (status = 404, description = "No such endpoint of the caller's", body = crate::http::error::ErrorBody)))]
pub async fn one(state: &AppState, caller: &Caller, raw: &str) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhook = owned(state, caller, raw).await?;
    Ok(Reply::json(StatusCode::OK, &webhook))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 50, at most 200)"),
        ("before" = Option<Uuid>, Query, description = "Only deliveries older than this one (the last id of the previous page)")),
    responses(
        (status = 200, description = "Deliveries, newest first, each with its attempts", body = Vec<DeliveryView>),
        (status = 404, description = "No such endpoint of the caller's", body = crate::http::error::ErrorBody)))]
pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhook = owned(state, caller, raw).await?;
    let limit = query.limit(50, 200)?;
    let before = query.parsed::<Uuid>("before", "before must be a delivery id")?;
    let page = DeliveryView::page(
        &state.pool,
        webhook.id,
        limit,
        before,
        sees_all(caller.role),
    )
    .await
    .map_err(unavailable)?;
    Ok(Reply::json(StatusCode::OK, &page))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery's id")),
    responses(
        crate::routes::write::Queued,
        (status = 202, description = "Queued: the same bytes, signed anew, with the next attempt number", body = crate::routes::write::Accepted),
        (status = 404, description = "No such endpoint or delivery of the caller's", body = crate::http::error::ErrorBody)))]
pub async fn redeliver(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    raw_delivery: &str,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageWebhooks)?;
    let webhook = owned(state, caller, raw).await?;
    let missing = || ApiError::not_found(format!("delivery {raw_delivery} not found"));
    let delivery_id: Uuid = raw_delivery.parse().map_err(|_| missing())?;
    let belongs =
        DeliveryView::belongs(&state.pool, delivery_id, webhook.id, sees_all(caller.role))
            .await
            .map_err(unavailable)?;
    if !belongs {
        return Err(missing());
    }
    let event_id = Uuid::new_v4();
    let request = Envelope::new(
        event_id,
        chrono::Utc::now(),
        caller.principal(),
        SendRequest {
            delivery_id,
            webhook_id: webhook.id,
            redeliver: true,
            courier: false,
        },
    );
    state
        .broker
        .send_webhook_attempt(&request)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "redeliver not accepted by the broker");
            ApiError::unavailable("message broker")
        })?;
    Ok(Reply::json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"status": "accepted", "event_id": event_id, "delivery_id": delivery_id}),
    ))
}
