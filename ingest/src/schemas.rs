//! The documented shapes of request bodies, query strings and headers.
//!
//! Request bodies are parsed field by field at the edge (every problem named
//! in one 422), not deserialized, so their schemas are described here, for
//! the OpenAPI document only.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

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
    /// Where it is delivered: on a courier's run it then has an `eta`.
    destination: Option<shared::packages::Place>,
    /// By when delivery was promised (RFC 3339, in the future, within a
    /// year): `delivery_at_risk` and `delivery_late` watch it.
    #[schema(format = "date-time")]
    promised_by: Option<String>,
    /// Mail `recipient_email` (needed) how it goes, with an unsubscribe link.
    notify_recipient: Option<bool>,
    /// The mails' language.
    #[schema(pattern = "^(en|de)([-_].*)?$")]
    recipient_locale: Option<String>,
    /// IANA (default `UTC`): non-urgent mail waits out 21:00–08:00 there.
    recipient_time_zone: Option<String>,
    /// Which notices (default all three).
    recipient_notices: Option<Vec<shared::recipients::NoticeKind>>,
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
    /// The tracker's own identifier for the OsmAnd protocol (an IMEI, a
    /// serial); a long random one is generated when absent.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]+$")]
    unique_id: Option<String>,
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
    /// What the device measured besides the position (all optional).
    #[serde(flatten)]
    measurements: shared::locations::Measurements,
    /// When the fix was taken (default: when received); at most
    /// LOCATION_MAX_FUTURE_SKEW_S ahead and LOCATION_MAX_AGE_S old.
    recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The point's own id: a re-sent point is stored once.
    #[schema(min_length = 1, max_length = 128)]
    id: Option<String>,
}

/// A courier's own position, for `POST /api/v1/me/location(s)`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CourierPointRequest {
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    #[serde(flatten)]
    measurements: shared::locations::Measurements,
    /// When the fix was taken (default: when received); the same limits as a package point's.
    recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The position's own id: a re-sent position is stored once.
    #[schema(min_length = 1, max_length = 128)]
    id: Option<String>,
    /// The device's battery, 0 to 100.
    #[schema(minimum = 0.0, maximum = 100.0)]
    battery_pct: Option<f64>,
    charging: Option<bool>,
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
