//! `POST /api/v1/locations`: a batch of points (JSON array, NDJSON or
//! MessagePack), validated whole, published as one broker message.

use crate::http::error::InvalidPoint;
use crate::http::idempotency::{fingerprint, IdempotencyKey};
use crate::http::request::{content_type, read_limited, BodyLimits};
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::auth::{Action, Caller};
use shared::locations::decode::{self, BatchError, Element};
use shared::locations::parse::{now_ms, parse_point, PointIds, PointRules};
use shared::wire::LocationPoint;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The encodings a batch may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    NdJson,
    MessagePack,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::NdJson => "ndjson",
            Self::MessagePack => "msgpack",
        }
    }
}

/// The points are safely queued and will be stored; their ids, in order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PointsAccepted {
    accepted: usize,
    event_ids: Vec<Uuid>,
}

impl PointsAccepted {
    pub fn new(event_ids: Vec<Uuid>) -> Self {
        Self {
            accepted: event_ids.len(),
            event_ids,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/locations", tag = "locations",
    params(crate::schemas::KeyHeader),
    request_body(content(
        (Vec<crate::schemas::BatchPointRequest> = "application/json"),
        (crate::schemas::BatchPointRequest = "application/x-ndjson"),
        (Vec<crate::schemas::BatchPointRequest> = "application/msgpack")),
        description = "1 to LOCATION_BATCH_MAX_POINTS points: a JSON array, NDJSON (one point per line) or a MessagePack array"),
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: will be stored", body = PointsAccepted),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::http::error::ErrorBody),
        (status = 413, description = "Too many points or bytes", body = crate::http::error::ErrorBody),
        (status = 415, description = "Unsupported Content-Type", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid points (every one named), or an empty batch", body = crate::http::error::InvalidBatch)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    crate::authn::require(caller, Action::PostLocations)?;
    let format = format_of(&request)?;
    let key = IdempotencyKey::from_request(&request, &caller.principal())?;
    let source = crate::authn::principal_of(&request, Some(caller));
    let trace = crate::routes::trace_of(&request);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let rules = state.point_rules;
    let limits = BodyLimits {
        max_bytes: rules.batch_max_bytes,
        read_timeout: state.body.read_timeout,
        budget: state.body.budget.clone(),
    };
    let body = read_limited(request, &limits).await?;
    let scope = key.map(|key| {
        let mut request = format.name().as_bytes().to_vec();
        request.push(b'\n');
        request.extend_from_slice(&body);
        key.point_scope(&fingerprint(&method, &path, &request))
    });
    let ids = PointIds::new(caller, scope);
    let points = parse_batch(format, &body, &ids, &rules, now_ms())?;
    crate::authn::require_carried(
        state,
        caller,
        points.iter().map(|p| p.tracking_number.as_str()),
    )
    .await?;
    publish(state, points, source, trace).await
}

/// Decodes and validates a whole batch: every point valid, or a 422 listing
/// every bad one by index (or the 400/413 of a body that is no batch at all).
pub fn parse_batch(
    format: Format,
    body: &[u8],
    ids: &PointIds,
    rules: &PointRules,
    received_at: DateTime<Utc>,
) -> Result<Vec<LocationPoint>, ApiError> {
    let objects = decode(format, body, rules.batch_max_points)?;
    if objects.is_empty() {
        return Err(invalid_batch(format!(
            "a batch holds 1 to {} points; this one has none",
            rules.batch_max_points
        )));
    }
    let mut points = Vec::with_capacity(objects.len());
    let mut invalid = Vec::new();
    for (index, value) in objects.iter().enumerate() {
        let Some(object) = value else {
            invalid.push(InvalidPoint {
                index,
                fields: BTreeMap::from([("point".into(), "must be an object".into())]),
            });
            continue;
        };
        match parse_point(object, None, index, ids, rules, received_at) {
            Ok(point) => points.push((index, point)),
            Err(fields) => invalid.push(InvalidPoint { index, fields }),
        }
    }
    invalid.extend(repeated_ids(&points));
    if !invalid.is_empty() {
        invalid.sort_by_key(|p| p.index);
        let error = format!(
            "{} of {} points are invalid; nothing was accepted",
            invalid.len(),
            objects.len()
        );
        return Err(ApiError::InvalidBatch {
            error,
            points: invalid,
        });
    }
    Ok(points.into_iter().map(|(_, point)| point).collect())
}

/// A point whose id an earlier point of the batch has (its own `id` with
/// the same tracking number) would be stored once, not twice: refused, so
/// the client learns of it instead of losing a point.
fn repeated_ids(points: &[(usize, LocationPoint)]) -> Vec<InvalidPoint> {
    let mut first_at: HashMap<Uuid, usize> = HashMap::with_capacity(points.len());
    let mut repeated = Vec::new();
    for (index, point) in points {
        if let Some(first) = first_at.get(&point.point_id) {
            repeated.push(InvalidPoint {
                index: *index,
                fields: BTreeMap::from([(
                    "id".to_owned(),
                    format!("repeats the id of point {first} for the same package"),
                )]),
            });
        } else {
            first_at.insert(point.point_id, *index);
        }
    }
    repeated
}

/// Publishes the points (posted by `source`) and answers 202 with their ids
/// once the broker confirmed the message holding them.
pub async fn publish(
    state: &AppState,
    points: Vec<LocationPoint>,
    source: shared::wire::Principal,
    trace: shared::wire::TraceContext,
) -> Result<Reply, ApiError> {
    let event_ids: Vec<Uuid> = points.iter().map(|p| p.point_id).collect();
    let published = state.point_groups.publish(points, source, trace).await;
    if let Err(error) = published {
        tracing::warn!(%error, "location points not accepted by the broker");
        return Err(ApiError::unavailable("message broker"));
    }
    Ok(Reply::json(
        StatusCode::ACCEPTED,
        &PointsAccepted {
            accepted: event_ids.len(),
            event_ids,
        },
    ))
}

pub fn format_of(request: &Request<Incoming>) -> Result<Format, ApiError> {
    let Some(essence) = content_type(request.headers()) else {
        return Ok(Format::Json);
    };
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Format::NdJson),
        "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
            Ok(Format::MessagePack)
        }
        _ => Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json, application/x-ndjson or application/msgpack"
                .into(),
        )),
    }
}

/// A 422 for a body that is no batch: the batch shape, naming no point.
fn invalid_batch(error: String) -> ApiError {
    ApiError::InvalidBatch {
        error,
        points: Vec::new(),
    }
}

/// Decodes without building past `max` points ([`super::decode`]).
pub fn decode(format: Format, body: &[u8], max: usize) -> Result<Vec<Element>, ApiError> {
    let decoded = match format {
        Format::Json => decode::json(body, max),
        Format::NdJson => decode::ndjson(body, max),
        Format::MessagePack => decode::msgpack(body, max),
    };
    decoded.map_err(|error| match error {
        BatchError::TooMany => ApiError::TooLarge(format!(
            "a batch holds 1 to {max} points; this one has more"
        )),
        BatchError::NotAnArray => invalid_batch(format!(
            "a {} batch must be an array of points",
            match format {
                Format::MessagePack => "MessagePack",
                _ => "JSON",
            }
        )),
        BatchError::OutOfRange(why) => {
            invalid_batch(format!("a number is not finite (out of range): {why}"))
        }
        BatchError::Malformed(why) => ApiError::BadRequest(why),
    })
}
