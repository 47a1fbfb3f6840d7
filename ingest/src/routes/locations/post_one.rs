//! `POST /api/v1/packages/{tn}/locations`: one point, 202 once confirmed.

use super::{now_ms, parse_point, post_batch::publish, PointIds};
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::domain::TrackingNumber;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Invalid {
    error: String,
    fields: BTreeMap<String, String>,
}

pub async fn post(
    state: &AppState,
    tracking_number: TrackingNumber,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    let key = idempotency_key(&request)?;
    let body = json_object(request, state.max_body_bytes).await?;
    let ids = key.as_deref().map_or(PointIds::Fresh, PointIds::Keyed);
    let point = parse_point(
        &body,
        Some(&tracking_number),
        0,
        &ids,
        &state.point_rules,
        now_ms(),
    )
    .map_err(|fields| {
        let error = fields
            .iter()
            .map(|(f, p)| format!("{f} {p}"))
            .collect::<Vec<_>>()
            .join("; ");
        Reply::json(StatusCode::UNPROCESSABLE_ENTITY, &Invalid { error, fields })
    })?;
    publish(state, vec![point]).await
}

/// The `Idempotency-Key` header, scoped to the request's path.
pub fn idempotency_key(request: &Request<Incoming>) -> Result<Option<String>, Reply> {
    match request.headers().get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(key)) if !key.is_empty() && key.len() <= 255 => {
            Ok(Some(format!("{} {key}", request.uri().path())))
        }
        Some(_) => Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}
