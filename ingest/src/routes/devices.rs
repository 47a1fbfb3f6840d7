//! `/api/v1/devices`: trackers and phones that post locations for a courier
//! with an API key. An admin or dispatcher registers one (`POST`, the key is
//! in the answer and nowhere else, ever), lists them (`GET ?courier_id=`),
//! replaces a key (`POST /{id}/rotate`) or revokes it (`DELETE /{id}`).
//! Ingest makes the key; only its hash travels and is stored.

use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Query, Reply};
use crate::routes::packages::NAME_MAX;
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use serde_json::Map;
use shared::auth::policy::Action;
use shared::auth::DeviceView;
use shared::auth::{api_key, Caller};
use shared::wire::{AccountOutcome, Command, Event, RegisterDevice, RevokeDevice, RotateDeviceKey};
use uuid::Uuid;

/// A device with its new key: shown once, at registration and rotation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceWithKey {
    #[serde(flatten)]
    device: DeviceView,
    /// `Authorization: ApiKey <api_key>` or `X-API-Key: <api_key>`. Not
    /// stored anywhere: keep it now.
    api_key: String,
    /// At registration only: the identifier an OsmAnd tracker or Traccar
    /// Client sends as `id` / `device_id` (the one given, or a generated
    /// one). It is the device's credential on `/osmand`: stored hashed,
    /// shown once; serve that endpoint over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_id: Option<String>,
}

/// A new device: its name, its courier, its OsmAnd identifier if given.
pub struct NewDevice {
    pub name: shared::domain::BoundedText,
    pub courier_id: Uuid,
    pub unique_id: Option<String>,
}

/// A new device's body: its name, its courier, its OsmAnd `unique_id`.
pub fn parse_new(body: &serde_json::Map<String, serde_json::Value>) -> Result<NewDevice, ApiError> {
    let mut fields = Fields::new(body);
    let name = fields.required_text("name", NAME_MAX);
    let courier_id = fields.required_with("courier_id", crate::routes::deliveries::uuid);
    let unique_id = fields.optional_with("unique_id", |raw: &str| {
        if api_key::valid_unique_id(raw) {
            Ok(raw.to_owned())
        } else {
            Err("must be 1 to 64 of A-Z a-z 0-9 . _ : -")
        }
    });
    fields.finish()?;
    match (name, courier_id) {
        (Some(name), Some(courier_id)) => Ok(NewDevice {
            name,
            courier_id,
            unique_id,
        }),
        _ => Err(ApiError::invalid_fields("name and courier_id are required")),
    }
}

#[utoipa::path(post, path = "/api/v1/devices", tag = "devices",
    request_body = crate::schemas::DeviceRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 201, description = "Registered; the key is in this answer only", body = DeviceWithKey),
        (status = 202, description = "Accepted, outcome not awaited (the key is lost: rotate it)", body = crate::routes::write::Accepted),
        (status = 422, description = "Invalid fields, or a courier_id that is no courier's", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDevices)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let new = parse_new(&body)?;
    let (key, key_hash) = api_key::generate();
    let unique_id = new.unique_id.unwrap_or_else(api_key::generate_unique_id);
    let event_id = options.event_id();
    let command = Command::RegisterDevice(RegisterDevice {
        device_id: Uuid::new_v5(&event_id, b"device"),
        courier_id: new.courier_id,
        name: new.name,
        key_hash,
        unique_id_hash: Some(api_key::unique_id_hash(&unique_id)),
    });
    submit(
        state,
        options.envelope(event_id, command, &body),
        &options,
        |event| with_key(event, key, Some(unique_id), StatusCode::CREATED),
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/devices/{id}/rotate", tag = "devices",
    params(("id" = Uuid, Path, description = "The device's id")),
    responses(
        crate::routes::write::Queued,
        (status = 200, description = "A new key; the old one no longer works", body = DeviceWithKey),
        (status = 404, description = "No such device", body = crate::http::error::ErrorBody),
        (status = 409, description = "The device is revoked", body = crate::http::error::ErrorBody)))]
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let (key, key_hash) = api_key::generate();
    let rotate = |device_id| {
        Command::RotateDeviceKey(RotateDeviceKey {
            device_id,
            key_hash,
        })
    };
    on_device(state, caller, raw, request, rotate, |event| {
        with_key(event, key, None, StatusCode::OK)
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The device's id")),
    responses(
        crate::routes::write::Queued,
        (status = 200, description = "Revoked: its key stops working on every ingest within seconds", body = DeviceView),
        (status = 404, description = "No such device", body = crate::http::error::ErrorBody)))]
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let revoke = |device_id| Command::RevokeDevice(RevokeDevice { device_id });
    on_device(state, caller, raw, request, revoke, |event| match event {
        Event::Account(AccountOutcome::DeviceChanged(device)) => {
            Ok(Reply::json(StatusCode::OK, &device))
        }
        other => Err(unexpected(other)),
    })
    .await
}

/// A bodiless command on the device the path names (rotate, revoke).
async fn on_device(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    request: Request<Incoming>,
    command: impl FnOnce(Uuid) -> Command,
    on_applied: impl FnOnce(Event) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDevices)?;
    let device_id = device_id(raw)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let envelope = options.envelope(options.event_id(), command(device_id), &Map::new());
    submit(state, envelope, &options, on_applied).await
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "devices",
    params(("courier_id" = Option<Uuid>, Query, description = "Only this courier's")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Newest first (at most 1000)", body = Vec<DeviceView>),
        (status = 422, description = "Invalid courier_id", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDevices)?;
    let courier_id = query.parsed::<Uuid>("courier_id", "courier_id must be a UUID")?;
    let devices = DeviceView::list(&state.pool, courier_id, 1000).await?;
    Ok(Reply::json(StatusCode::OK, &devices))
}

fn device_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("device {raw} not found")))
}

fn with_key(
    event: Event,
    api_key: String,
    unique_id: Option<String>,
    status: StatusCode,
) -> Result<Reply, ApiError> {
    match event {
        Event::Account(AccountOutcome::DeviceChanged(device)) => Ok(Reply::json(
            status,
            &DeviceWithKey {
                device,
                api_key,
                unique_id,
            },
        )),
        other => Err(unexpected(other)),
    }
}
