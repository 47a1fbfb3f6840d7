//! `/api/v1/deliveries`: a dispatcher gives a courier a day's run of stops
//! (`POST`), and lists runs (`GET ?courier_id=&day=&limit=`). One delivery
//! is in [`one`]; a courier's own in [`mine`]. Writes go through the
//! pipeline like every other write.

pub mod mine;
pub mod one;

use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Query, Reply};
use crate::routes::write::unexpected;
use crate::routes::write::{submit, WriteOptions};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Value;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::auth::{DeliveryFilter, DeliveryView};
use shared::domain::TrackingNumber;
use shared::wire::{AccountOutcome, Command, CreateDelivery, Event};
use uuid::Uuid;

/// The most stops one run may have.
pub const MAX_STOPS: usize = 500;
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[utoipa::path(post, path = "/api/v1/deliveries", tag = "deliveries",
    request_body = crate::schemas::DeliveryRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 201, description = "Created", body = DeliveryView),
        (status = 422, description = "Invalid fields, a courier_id that names no courier, or unknown packages", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDeliveries)?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let (courier_id, day, stops) = parse_new(&body)?;
    let event_id = options.event_id();
    let command = Command::CreateDelivery(CreateDelivery {
        delivery_id: Uuid::new_v5(&event_id, b"delivery"),
        courier_id,
        day,
        stops,
    });
    submit(
        state,
        options.envelope(event_id, command, &body),
        &options,
        |event| match event {
            Event::Account(AccountOutcome::DeliveryChanged(view)) => {
                Ok(Reply::json(StatusCode::CREATED, &view)
                    .header("location", &format!("/api/v1/deliveries/{}", view.id)))
            }
            other => Err(unexpected(other)),
        },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries",
    params(
        ("courier_id" = Option<Uuid>, Query, description = "Only this courier's"),
        ("day" = Option<String>, Query, description = "Only this day (YYYY-MM-DD)"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Newest day first", body = Vec<DeliveryView>),
        (status = 422, description = "Invalid filter", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ManageDeliveries)?;
    let filter = filter(query, None)?;
    let deliveries = DeliveryView::list(state.reads.for_scoped(caller).await, &filter).await?;
    Ok(Reply::json(StatusCode::OK, &deliveries))
}

/// The listing's filter from the query; `courier` overrides `courier_id`.
pub fn filter(query: Query<'_>, courier: Option<Uuid>) -> Result<DeliveryFilter, ApiError> {
    let courier_id = match courier {
        Some(courier) => Some(courier),
        None => query.parsed("courier_id", "courier_id must be a UUID")?,
    };
    let day = query.parsed("day", "day must be a date like 2026-11-25")?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(DeliveryFilter {
        courier_id,
        day,
        limit,
    })
}

fn uuid_field(fields: &mut Fields<'_>, name: &str, required: bool) -> Option<Uuid> {
    if required {
        fields.required_with(name, uuid)
    } else {
        fields.optional_with(name, uuid)
    }
}

/// A UUID field's value, or its problem.
pub fn uuid(raw: &str) -> Result<Uuid, &'static str> {
    raw.parse().map_err(|_| "must be a UUID")
}

/// A new run's body: its courier, its day and its stops.
pub fn parse_new(
    body: &serde_json::Map<String, Value>,
) -> Result<(Uuid, chrono::NaiveDate, Vec<TrackingNumber>), ApiError> {
    let mut fields = Fields::new(body);
    let courier_id = uuid_field(&mut fields, "courier_id", true);
    let day = fields.required_with("day", |raw| {
        raw.parse::<chrono::NaiveDate>()
            .map_err(|_| "must be a date like 2026-11-25")
    });
    let stops = stops_field(&mut fields, body, true);
    fields.finish()?;
    match (courier_id, day, stops) {
        (Some(courier_id), Some(day), Some(stops)) => Ok((courier_id, day, stops)),
        _ => Err(ApiError::invalid_fields(
            "courier_id, day and stops are required",
        )),
    }
}

/// `stops`: 1 to [`MAX_STOPS`] tracking numbers, each once.
fn stops_field(
    fields: &mut Fields<'_>,
    body: &serde_json::Map<String, Value>,
    required: bool,
) -> Option<Vec<TrackingNumber>> {
    let items = match body.get("stops") {
        None | Some(Value::Null) => {
            if required {
                fields.invalid("stops", "is required");
            }
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            fields.invalid("stops", "must be an array of tracking numbers");
            return None;
        }
    };
    if items.is_empty() || items.len() > MAX_STOPS {
        fields.invalid(
            "stops",
            format!("must hold 1 to {MAX_STOPS} tracking numbers"),
        );
        return None;
    }
    let mut stops: Vec<TrackingNumber> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let parsed = item
            .as_str()
            .ok_or_else(|| "must be a string".to_owned())
            .and_then(|raw| TrackingNumber::parse(raw).map_err(|e| e.to_string()));
        match parsed {
            Ok(tn) if stops.contains(&tn) => {
                fields.invalid(&format!("stops[{index}]"), format!("repeats {tn}"));
                return None;
            }
            Ok(tn) => stops.push(tn),
            Err(problem) => {
                fields.invalid(&format!("stops[{index}]"), problem);
                return None;
            }
        }
    }
    Some(stops)
}

/// A field of the PATCH body.
pub(crate) fn optional_uuid(fields: &mut Fields<'_>, name: &str) -> Option<Uuid> {
    uuid_field(fields, name, false)
}

pub(crate) fn optional_stops(
    fields: &mut Fields<'_>,
    body: &serde_json::Map<String, Value>,
) -> Option<Vec<TrackingNumber>> {
    stops_field(fields, body, false)
}
