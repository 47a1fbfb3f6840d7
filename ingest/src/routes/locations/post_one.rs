//! `POST /api/v1/packages/{tn}/locations`: one point, 202 once confirmed.

use super::post_batch::publish;
use crate::http::idempotency::{canonical_json, fingerprint, IdempotencyKey};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::Request;
use shared::auth::Caller;
use shared::domain::TrackingNumber;
use shared::locations::parse::{now_ms, parse_point, PointIds};

#[utoipa::path(post, path = "/api/v1/packages/{tracking_number}/locations", tag = "locations",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::schemas::KeyHeader),
    request_body = crate::schemas::PointRequest,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::BrokerDown,
        (status = 202, description = "Accepted: will be stored", body = super::post_batch::PointsAccepted),
        (status = 404, description = "Not a tracking number", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::http::error::InvalidFields)))]
pub async fn post(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    crate::authn::require_carried(state, caller, [tracking_number.as_str()]).await?;
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
    let point = parse_point(
        &body,
        Some(&tracking_number),
        0,
        &ids,
        &state.point_rules,
        now_ms(),
    )
    .map_err(ApiError::fields)?;
    publish(state, vec![point], source, trace).await
}
