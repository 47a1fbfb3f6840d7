//! The OpenAPI shapes of the webhook bodies (parsed by [`super::parse`]).

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /api/v1/webhooks`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookRequest {
    /// `https://` (`http://` only where `WEBHOOK_ALLOW_HTTP=true`); a host
    /// resolving to a loopback, private, link-local or metadata address is
    /// refused, at registration and before every delivery.
    #[schema(max_length = 2048)]
    url: String,
    /// Event kinds: created, status_changed, location, geofence_entered,
    /// geofence_exited, geofence_dwelled, geofence_crossed, eta_changed,
    /// delivery_at_risk, delivery_late.
    #[schema(min_items = 1)]
    events: Vec<String>,
    /// Only these packages (1 to 100); absent or null: every package the
    /// account may see.
    #[schema(max_items = 100)]
    packages: Option<Vec<String>>,
    #[schema(max_length = 200)]
    description: Option<String>,
}

/// `PATCH /api/v1/webhooks/{id}`: any field of a create (`packages: null`
/// for every package, `description: null` to clear), and `paused`
/// (`false` also enables an endpoint disabled for failing).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookPatch {
    #[schema(max_length = 2048)]
    url: Option<String>,
    events: Option<Vec<String>>,
    #[schema(max_items = 100)]
    packages: Option<Vec<String>>,
    #[schema(max_length = 200)]
    description: Option<String>,
    paused: Option<bool>,
}
