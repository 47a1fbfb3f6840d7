//! `/api/v1/webhooks`: an account's endpoints for events. [`write`]:
//! register (the secret is in the answer and nowhere else), change, pause,
//! delete, rotate the secret, through the package pool; [`read`]: list,
//! one, the delivery log, and a redeliver (straight to the webhook pool).
//! An endpoint is its owner's alone: anyone else's reads as not found.

pub mod parse;
pub mod read;
pub mod schemas;
pub mod write;

use crate::http::ApiError;
use crate::routes::AppState;
use serde::Serialize;
use shared::auth::Caller;
use shared::webhooks::view::WebhookView;
use uuid::Uuid;

fn webhook_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("webhook {raw} not found"))
}

/// The caller's endpoint `raw`, or 404.
async fn owned(state: &AppState, caller: &Caller, raw: &str) -> Result<WebhookView, ApiError> {
    let id = webhook_id(raw)?;
    let found = WebhookView::load(&state.pool, id).await.map_err(|error| {
        tracing::warn!(%error, "cannot read a webhook");
        ApiError::unavailable("webhooks")
    })?;
    found
        .filter(|webhook| webhook.owner_id == caller.user_id)
        .ok_or_else(|| not_found(raw))
}

/// An endpoint with its secret: shown at registration and rotation only.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: WebhookView,
    /// Verifies `X-DeliverTrack-Signature` (see the README's recipe). Not
    /// stored anywhere in this form: keep it now; rotate to get a new one.
    secret: String,
}

fn with_secret(state: &AppState, webhook: WebhookView) -> Result<WebhookWithSecret, ApiError> {
    let secrets = secrets(state)?;
    Ok(WebhookWithSecret {
        secret: secrets.secret(webhook.id, webhook.secret_version),
        webhook,
    })
}

fn secrets(state: &AppState) -> Result<&shared::webhooks::secret::WebhookSecrets, ApiError> {
    state
        .webhooks
        .secrets
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("webhooks (WEBHOOK_SECRET_KEY is not set)"))
}
