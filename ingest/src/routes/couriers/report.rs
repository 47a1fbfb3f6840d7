//! `POST /api/v1/me/location` (one position) and `POST /api/v1/me/locations`
//! (a batch: JSON array, NDJSON or MessagePack): a courier, or a device
//! bound to them, reports where the courier is. The same validation, ids
//! and late-point rules as package points; 202 once the broker confirmed.

use crate::http::error::InvalidPoint;
use crate::http::idempotency::{canonical_json, fingerprint, IdempotencyKey};
use crate::http::request::{json_object, read_limited, BodyLimits};
use crate::http::{ApiError, Reply};
use crate::routes::locations::post_batch::{self, PointsAccepted};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use shared::auth::{Caller, Role};
use shared::couriers::parse::parse_fix;
use shared::couriers::CourierPoint;
use shared::locations::parse::{now_ms, PointIds};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Only a courier has a position of their own (a device reports its courier's).
pub fn require_courier(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Courier {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only a courier, or a device bound to one, reports its own position".into(),
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/me/location", tag = "couriers",
    params(crate::schemas::KeyHeader),
    request_body = crate::schemas::CourierPointRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: will be stored", body = PointsAccepted),
        (status = 403, description = "Not a courier (nor a courier's device)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::http::error::InvalidFields)))]
pub async fn post_one(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    require_courier(caller)?;
    let key = IdempotencyKey::from_request(&request, &caller.principal())?;
    let source = crate::authn::principal_of(&request, Some(caller));
    let trace = crate::routes::trace_of(&request);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = json_object(request, &state.body).await?;
    let scope = key.map(|key| {
        let canonical = canonical_json(&body);
        key.point_scope(&fingerprint(&method, &path, &canonical))
    });
    let ids = PointIds::new(caller, scope);
    let point = parse_fix(&body, caller, 0, &ids, &state.point_rules, now_ms())
        .map_err(ApiError::fields)?;
    publish(state, vec![point], source, trace).await
}

#[utoipa::path(post, path = "/api/v1/me/locations", tag = "couriers",
    params(crate::schemas::KeyHeader),
    request_body(content(
        (Vec<crate::schemas::CourierPointRequest> = "application/json"),
        (crate::schemas::CourierPointRequest = "application/x-ndjson"),
        (Vec<crate::schemas::CourierPointRequest> = "application/msgpack")),
        description = "1 to LOCATION_BATCH_MAX_POINTS positions"),
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: will be stored", body = PointsAccepted),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::http::error::ErrorBody),
        (status = 403, description = "Not a courier (nor a courier's device)", body = crate::http::error::ErrorBody),
        (status = 413, description = "Too many points or bytes", body = crate::http::error::ErrorBody),
        (status = 415, description = "Unsupported Content-Type", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid positions (every one named), or an empty batch", body = crate::http::error::InvalidBatch)))]
pub async fn post_batch(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    require_courier(caller)?;
    let format = post_batch::format_of(&request)?;
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
    let objects = post_batch::decode(format, &body, rules.batch_max_points)?;
    let (mut points, mut invalid) = (Vec::with_capacity(objects.len()), Vec::new());
    let received_at = now_ms();
    for (index, value) in objects.iter().enumerate() {
        let parsed = match value {
            None => Err(BTreeMap::from([(
                "point".into(),
                "must be an object".into(),
            )])),
            Some(object) => parse_fix(object, caller, index, &ids, &rules, received_at),
        };
        match parsed {
            Ok(point) => points.push((index, point)),
            Err(fields) => invalid.push(InvalidPoint { index, fields }),
        }
    }
    invalid.extend(repeated_ids(&points));
    if objects.is_empty() || !invalid.is_empty() {
        invalid.sort_by_key(|p| p.index);
        let error = match objects.len() {
            0 => "a batch holds at least one position; this one has none".to_owned(),
            n => format!(
                "{} of {n} positions are invalid; nothing was accepted",
                invalid.len()
            ),
        };
        return Err(ApiError::InvalidBatch {
            error,
            points: invalid,
        });
    }
    let points = points.into_iter().map(|(_, p)| p).collect();
    publish(state, points, source, trace).await
}

/// A position repeating an earlier one's `id` would be stored once.
fn repeated_ids(points: &[(usize, CourierPoint)]) -> Vec<InvalidPoint> {
    let mut first_at: HashMap<Uuid, usize> = HashMap::with_capacity(points.len());
    let mut repeated = Vec::new();
    for (index, point) in points {
        match first_at.get(&point.point_id) {
            Some(first) => repeated.push(InvalidPoint {
                index: *index,
                fields: BTreeMap::from([(
                    "id".to_owned(),
                    format!("repeats the id of position {first}"),
                )]),
            }),
            None => {
                first_at.insert(point.point_id, *index);
            }
        }
    }
    repeated
}

/// Publishes the reports and answers 202 with their ids once confirmed.
pub async fn publish(
    state: &AppState,
    points: Vec<CourierPoint>,
    source: shared::wire::Principal,
    trace: shared::wire::TraceContext,
) -> Result<Reply, ApiError> {
    let event_ids: Vec<Uuid> = points.iter().map(|p| p.point_id).collect();
    if let Err(error) = state
        .point_groups
        .publish_reports(points, source, trace)
        .await
    {
        tracing::warn!(%error, "courier positions not accepted by the broker");
        return Err(ApiError::unavailable("message broker"));
    }
    Ok(Reply::json(
        StatusCode::ACCEPTED,
        &PointsAccepted::new(event_ids),
    ))
}
