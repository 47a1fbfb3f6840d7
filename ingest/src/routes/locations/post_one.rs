//! `POST /api/v1/packages/{tn}/locations`: one point, 202 once confirmed.

use super::{now_ms, parse_point, post_batch::publish, PointIds};
use crate::http::idempotency::{canonical_json, fingerprint, IdempotencyKey};
use crate::http::request::json_object;
use crate::http::Reply;
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::domain::TrackingNumber;
use shared::wire::Principal;
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
    let key = IdempotencyKey::from_request(&request, &Principal::default())?;
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = json_object(request, state.body).await?;
    let ids = match key {
        Some(key) => {
            let canonical = canonical_json(&body);
            PointIds::Keyed(key.point_scope(&fingerprint(&method, &path, &canonical)))
        }
        None => PointIds::Fresh,
    };
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
