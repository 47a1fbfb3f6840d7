//! `POST /api/v1/packages`: validate, publish `CreatePackage`, answer 201 with
//! the package (or 202 when the outcome is not awaited).

use super::{ADDRESS_MAX, DESCRIPTION_MAX, NAME_MAX};
use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::{submit, unexpected, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::{Email, TrackingNumber};
use shared::wire::{Command, CreatePackage, Event, PackageEvent};
use uuid::Uuid;

/// The heaviest package we accept, in kilograms.
const WEIGHT_MAX: f64 = 100_000.0;

#[utoipa::path(post, path = "/api/v1/packages", tag = "packages",
    params(crate::schemas::WriteHeaders),
    request_body = crate::schemas::CreatePackageRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 201, description = "Created", body = shared::packages::PackageView,
            headers(("location" = String, description = "The new package's URL"))),
        (status = 409, description = "The tracking number exists", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or an Idempotency-Key reused for another request", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::CreatePackage)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let event_id = options.event_id();
    // A customer's number is the server's to choose: a chosen one would tell
    // whether it is taken, and take it from whoever needs it. Admins and
    // dispatchers supply carriers' numbers, or leave them to the server.
    if caller.role == shared::auth::Role::Customer
        && body.get("tracking_number").is_some_and(|v| !v.is_null())
    {
        let mut fields = Fields::new(&body);
        fields.invalid(
            "tracking_number",
            "is assigned by the server for customers; leave it out",
        );
        fields.finish()?;
    }
    // Derived from the event id (with a key of the server's), so a retried
    // create proposes the same package and number, and nobody can guess one.
    let assigned = TrackingNumber::assigned(
        &state
            .signing
            .tag("assigned tracking numbers", event_id.as_bytes()),
    );
    let mut command = parse(&body, Uuid::new_v5(&event_id, b"package"), assigned)?;
    command.owner_id = Some(caller.user_id);
    let envelope = options.envelope(event_id, Command::CreatePackage(command), &body);
    submit(state, envelope, &options, |event| match event {
        Event::Package(PackageEvent::PackageCreated(created)) => {
            let location = format!("/api/v1/packages/{}", created.package.tracking_number);
            Ok(Reply::json(StatusCode::CREATED, &created.package).header("location", &location))
        }
        other => Err(unexpected(other)),
    })
    .await
}

/// `assigned`: the number used when the body names none.
pub fn parse(
    body: &serde_json::Map<String, serde_json::Value>,
    package_id: Uuid,
    assigned: TrackingNumber,
) -> Result<CreatePackage, ApiError> {
    let mut fields = Fields::new(body);
    let tracking_number = match body.get("tracking_number") {
        None | Some(serde_json::Value::Null) => Some(assigned),
        Some(_) => fields.optional_with("tracking_number", |raw| TrackingNumber::parse(raw.trim())),
    };
    let sender_name = fields.required_text("sender_name", NAME_MAX);
    let sender_address = fields.required_text("sender_address", ADDRESS_MAX);
    let recipient_name = fields.required_text("recipient_name", NAME_MAX);
    let recipient_address = fields.required_text("recipient_address", ADDRESS_MAX);
    let weight = fields.optional_positive(
        "weight",
        WEIGHT_MAX,
        &format!("must be greater than 0 and at most {WEIGHT_MAX} (kg)"),
    );
    let description = fields.optional_text("description", DESCRIPTION_MAX);
    let recipient_email = fields.optional_with("recipient_email", Email::parse);
    let destination = super::plan::destination(&mut fields, body).applied_to(None);
    let promised_by =
        super::plan::promised_by(&mut fields, body, chrono::Utc::now()).applied_to(None);
    let notify_recipient = super::recipient_mail::parse(&mut fields, recipient_email.is_some());
    fields.finish()?;
    match (
        tracking_number,
        sender_name,
        sender_address,
        recipient_name,
        recipient_address,
    ) {
        (
            Some(tracking_number),
            Some(sender_name),
            Some(sender_address),
            Some(recipient_name),
            Some(recipient_address),
        ) => Ok(CreatePackage {
            package_id,
            tracking_number,
            sender_name,
            sender_address,
            recipient_name,
            recipient_address,
            weight,
            description,
            owner_id: None,
            recipient_email,
            destination,
            promised_by,
            notify_recipient,
        }),
        // finish() reports every missing field, so this is unreachable in practice.
        _ => Err(ApiError::invalid_fields("missing required fields")),
    }
}
