//! The OpenAPI 3.1 document of the REST API, generated from the handlers'
//! annotations and the response types (utoipa), served at
//! `GET /api/v1/openapi.json` and kept in the repository as
//! `docs/openapi.json` (a test keeps the file, the document and the router
//! in step).
//!
//! Request bodies are parsed field by field at the edge (every problem named
//! in one 422), not deserialized, so their schemas are described here.

use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Every route the router serves, as (method, path template): what the
/// document must describe.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/health/live"),
    ("get", "/api/v1/health/ready"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/packages"),
    ("post", "/api/v1/packages"),
    ("get", "/api/v1/packages/{tracking_number}"),
    ("put", "/api/v1/packages/{tracking_number}/status"),
    ("get", "/api/v1/packages/{tracking_number}/events"),
    ("get", "/api/v1/packages/{tracking_number}/locations"),
    ("post", "/api/v1/packages/{tracking_number}/locations"),
    ("post", "/api/v1/locations"),
    ("get", "/api/v1/locations/near"),
    ("get", "/api/v1/locations/within"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/verify-email/resend"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("post", "/api/v1/ws-ticket"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{id}"),
    ("get", "/api/v1/deliveries"),
    ("post", "/api/v1/deliveries"),
    ("get", "/api/v1/deliveries/{id}"),
    ("patch", "/api/v1/deliveries/{id}"),
    ("get", "/api/v1/me/deliveries"),
    ("get", "/api/v1/devices"),
    ("post", "/api/v1/devices"),
    ("delete", "/api/v1/devices/{id}"),
    ("post", "/api/v1/devices/{id}/rotate"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/track/{tracking_number}"),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DeliverTrack",
        description = "Real-time package tracking: writes are queued (confirmed by the broker) and applied by workers; reads come from cached views. Compatible with the original DeliverTrack API.",
        version = "1.0.0",
        license(name = "MIT")
    ),
    paths(
        crate::routes::health::get,
        crate::routes::health::live,
        crate::routes::health::ready,
        crate::routes::stats::get,
        document,
        crate::routes::packages::list::get,
        crate::routes::packages::create::post,
        crate::routes::packages::get::get,
        crate::routes::packages::status::put,
        crate::routes::packages::events::get,
        crate::routes::locations::history::get,
        crate::routes::locations::post_one::post,
        crate::routes::locations::post_batch::post,
        crate::routes::locations::near::get,
        crate::routes::locations::within::get,
        crate::routes::auth::register::post,
        crate::routes::auth::login::post,
        crate::routes::auth::refresh::post,
        crate::routes::auth::logout::post,
        crate::routes::auth::verify_email::post,
        crate::routes::auth::verify_email::resend,
        crate::routes::auth::password_reset::request,
        crate::routes::auth::password_reset::confirm,
        crate::routes::ws_ticket::post,
        crate::routes::users::list,
        crate::routes::users::post,
        crate::routes::users::patch,
        crate::routes::deliveries::post,
        crate::routes::deliveries::get,
        crate::routes::deliveries::one::get,
        crate::routes::deliveries::one::patch,
        crate::routes::deliveries::mine::get,
        crate::routes::devices::get,
        crate::routes::devices::post,
        crate::routes::devices::revoke,
        crate::routes::devices::rotate,
        crate::routes::audit::get,
        crate::routes::track::get,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "packages", description = "Packages and their status flow"),
        (name = "locations", description = "Device positions, history and geo queries"),
        (name = "operations", description = "Health, statistics, this document"),
        (name = "auth", description = "Accounts and access tokens"),
        (name = "deliveries", description = "Couriers' runs of stops"),
        (name = "devices", description = "Devices posting locations with API keys"),
        (name = "tracking", description = "What anyone with a tracking number may see")
    )
)]
pub struct ApiDoc;

/// Every endpoint but health, this document, sign-up and sign-in takes
/// `Authorization: Bearer <access_token>` from `POST /api/v1/auth/login`,
/// and may answer 401 (no or bad token) and 403 (the role may not).
struct BearerAuth;

/// The endpoints anyone may call.
pub const PUBLIC: &[&str] = &[
    "/api/v1/health",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/api/v1/openapi.json",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/track/{tracking_number}",
];

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let error = |description: &str| {
            utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if PUBLIC.contains(&path.as_str()) {
                    // Public: no credentials asked for.
                    operation.security = Some(Vec::new());
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses.entry("401".into()).or_insert_with(|| {
                    error("No, malformed, expired or forged credentials").into()
                });
                responses
                    .entry("403".into())
                    .or_insert_with(|| error("The caller's role may not do this").into());
            }
        }
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub fn document() -> String {
    json()
}

/// `POST /api/v1/packages`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CreatePackageRequest {
    /// A carrier's number (admins and dispatchers); left out, the server
    /// assigns one (`DT` and 21 characters). Customers always get an
    /// assigned one: naming one is a 422.
    #[schema(pattern = "^[A-Za-z0-9_-]{4,64}$")]
    tracking_number: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    sender_name: String,
    #[schema(min_length = 1, max_length = 500)]
    sender_address: String,
    #[schema(min_length = 1, max_length = 200)]
    recipient_name: String,
    #[schema(min_length = 1, max_length = 500)]
    recipient_address: String,
    /// Kilograms.
    #[schema(exclusive_minimum = 0.0, maximum = 100000.0)]
    weight: Option<f64>,
    #[schema(min_length = 1, max_length = 2000)]
    description: Option<String>,
    /// The recipient's account email: that account may follow the package.
    #[schema(format = "email")]
    recipient_email: Option<String>,
}

/// `POST /api/v1/auth/register`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RegisterRequest {
    #[schema(format = "email", max_length = 254)]
    email: String,
    #[schema(min_length = 10, max_length = 256)]
    password: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RefreshRequest {
    /// The session's current refresh token (from sign-in or the last refresh).
    refresh_token: String,
}

/// `POST /api/v1/auth/verify-email`: the token of the mailed link.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LinkTokenRequest {
    token: String,
}

/// `POST /api/v1/auth/password-reset`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ResetRequest {
    #[schema(format = "email", max_length = 254)]
    email: String,
}

/// `POST /api/v1/auth/password-reset/confirm`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ResetConfirmRequest {
    /// The token of the mailed link (after `#token=`).
    token: String,
    #[schema(min_length = 10, max_length = 256)]
    password: String,
}

/// `PATCH /api/v1/users/{id}` (admins): at least one field.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UserPatch {
    #[schema(pattern = "^(admin|dispatcher|courier|customer)$")]
    role: Option<String>,
    /// `true` ends every session of the account and stops its devices.
    disabled: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UsersQuery {
    #[param(pattern = "^(admin|dispatcher|courier|customer)$")]
    role: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// From the `Link: rel="next"` of the previous page.
    cursor: Option<String>,
}

/// `POST /api/v1/deliveries`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliveryRequest {
    /// A courier's account id.
    courier_id: uuid::Uuid,
    #[schema(format = "date")]
    day: String,
    /// Tracking numbers in visiting order, each once.
    #[schema(min_items = 1, max_items = 500)]
    stops: Vec<String>,
}

/// `PATCH /api/v1/deliveries/{id}`: at least one field.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliveryPatch {
    /// Reassign to this courier.
    courier_id: Option<uuid::Uuid>,
    /// The new order of stops.
    #[schema(min_items = 1, max_items = 500)]
    stops: Option<Vec<String>>,
    /// `completed` ends the run.
    #[schema(pattern = "^completed$")]
    status: Option<String>,
}

/// `POST /api/v1/devices`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DeviceRequest {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The courier whose packages the device posts for.
    courier_id: uuid::Uuid,
}

/// `POST /api/v1/users` (admins).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewUserRequest {
    #[schema(format = "email", max_length = 254)]
    email: String,
    #[schema(min_length = 10, max_length = 256)]
    password: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(pattern = "^(admin|dispatcher|courier|customer)$")]
    role: String,
}

/// `PUT /api/v1/packages/{tracking_number}/status`. Coordinates come in pairs.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct StatusUpdateRequest {
    status: shared::domain::PackageStatus,
    #[schema(min_length = 1, max_length = 500)]
    location: Option<String>,
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: Option<f64>,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: Option<f64>,
}

/// One point for `POST /api/v1/packages/{tracking_number}/locations`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PointRequest {
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    #[schema(min_length = 1, max_length = 500)]
    address: Option<String>,
    #[schema(minimum = 0.0, maximum = 1000000.0)]
    accuracy_m: Option<f64>,
    #[schema(minimum = 0.0, maximum = 1000.0)]
    speed_mps: Option<f64>,
    #[schema(minimum = 0.0, maximum = 360.0)]
    heading_deg: Option<f64>,
    /// When the fix was taken (default: when received); at most
    /// LOCATION_MAX_FUTURE_SKEW_S ahead and LOCATION_MAX_AGE_S old.
    recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The point's own id: a re-sent point is stored once.
    #[schema(min_length = 1, max_length = 128)]
    id: Option<String>,
}

/// One point of `POST /api/v1/locations`: a [`PointRequest`] naming its package.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchPointRequest {
    #[schema(pattern = "^[A-Za-z0-9_-]{4,64}$")]
    tracking_number: String,
    #[serde(flatten)]
    point: PointRequest,
}

/// Headers of a package write.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct WriteHeaders {
    /// A retry with the same key (same caller, method, path and body) is
    /// applied once and answered with the first outcome; the key on another
    /// request is refused (422).
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        nullable = false
    )]
    idempotency_key: Option<String>,
    /// `respond-async`: answer 202 once the broker confirmed, without
    /// waiting for the outcome.
    #[param(rename = "Prefer", nullable = false)]
    prefer: Option<String>,
}

/// The `Idempotency-Key` header of a location post.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct KeyHeader {
    /// Names the request's points (with their package and index), so a
    /// retry stores each once.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        nullable = false
    )]
    idempotency_key: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    status: Option<shared::domain::PackageStatus>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// From the `Link: rel="next"` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryQuery {
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct NearQuery {
    #[param(minimum = -90.0, maximum = 90.0)]
    lat: f64,
    #[param(minimum = -180.0, maximum = 180.0)]
    lon: f64,
    #[param(exclusive_minimum = 0.0, maximum = 1000000.0)]
    radius_m: f64,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WithinQuery {
    /// `minLon,minLat,maxLon,maxLat`
    bbox: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_describes_exactly_the_routes() {
        let document: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let described: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(described, served);
    }

    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let generated = json() + "\n";
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if committed == generated {
            return;
        }
        // Asked to, it rewrites the document, and still fails: a run that
        // rewrote it has not checked the committed one.
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write docs/openapi.json");
            panic!("docs/openapi.json was stale and is rewritten: review and commit it, then run again without UPDATE_OPENAPI");
        }
        panic!("docs/openapi.json is stale: regenerate it with `UPDATE_OPENAPI=1 cargo test -p ingest openapi`");
    }
}
