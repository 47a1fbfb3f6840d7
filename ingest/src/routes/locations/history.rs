//! `GET /api/v1/packages/{tn}/locations`: the history, newest first, in the
//! original shape; `?since=`, `?until=` (RFC 3339) and `?limit=` (default 100,
//! at most 1000).

use super::super::{package_not_found, AppState};
use crate::http::request::query_param;
use crate::http::Reply;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::{doc, Bson, Document};
use serde::Serialize;
use shared::domain::TrackingNumber;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// A stored point, in the original shape plus our fields.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LocationView {
    id: Option<String>,
    package_id: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    address: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    accuracy_m: Option<f64>,
    speed_mps: Option<f64>,
    heading_deg: Option<f64>,
    received_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/packages/{tracking_number}/locations", tag = "locations",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::openapi::HistoryQuery),
    responses(
        (status = 200, description = "The history, newest first", body = Vec<LocationView>),
        (status = 404, description = "No such package", body = crate::http::response::ErrorBody),
        (status = 422, description = "Invalid since, until or limit", body = crate::http::response::ErrorBody),
        (status = 503, description = "A store is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    tracking_number: TrackingNumber,
    query: Option<&str>,
) -> Result<Reply, Reply> {
    crate::authn::require_package(
        state,
        caller,
        shared::auth::Action::ReadPackage,
        &tracking_number,
    )
    .await?;
    let invalid = |m: String| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match query_param(query, name).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => DateTime::parse_from_rfc3339(&raw)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid(format!("{name} must be an RFC 3339 timestamp"))),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    let limit = crate::http::request::limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    if crate::reads::package(&state.pool, tracking_number.as_str())
        .await?
        .is_none()
    {
        return Err(package_not_found(tracking_number.as_str()));
    }
    let mut filter = doc! { "tracking_number": tracking_number.as_str() };
    let mut range = Document::new();
    if let Some(since) = since {
        range.insert(
            "$gte",
            mongodb::bson::DateTime::from_millis(since.timestamp_millis()),
        );
    }
    if let Some(until) = until {
        range.insert(
            "$lte",
            mongodb::bson::DateTime::from_millis(until.timestamp_millis()),
        );
    }
    if !range.is_empty() {
        filter.insert("recorded_at", range);
    }
    let history = state
        .mongo
        .database(&state.mongo_database)
        .collection::<Document>("location_history");
    let documents: Vec<Document> = async {
        history
            .find(filter)
            .sort(doc! { "recorded_at": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }
    .await
    .map_err(|error: mongodb::error::Error| {
        tracing::warn!(%error, "location history query failed");
        Reply::unavailable("location store")
    })?;
    let views: Vec<LocationView> = documents.iter().map(view).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}

fn view(document: &Document) -> LocationView {
    let (latitude, longitude) = super::document_position(document);
    let number = |field: &str| document.get(field).and_then(Bson::as_f64);
    let string = |field: &str| document.get_str(field).ok().map(str::to_owned);
    LocationView {
        id: string("_id"),
        package_id: string("package_id"),
        latitude,
        longitude,
        address: string("address"),
        timestamp: super::document_time(document, "recorded_at"),
        accuracy_m: number("accuracy_m"),
        speed_mps: number("speed_mps"),
        heading_deg: number("heading_deg"),
        received_at: super::document_time(document, "received_at"),
    }
}
