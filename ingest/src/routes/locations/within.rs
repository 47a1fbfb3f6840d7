//! `GET /api/v1/locations/within?bbox=minLon,minLat,maxLon,maxLat`: packages
//! whose latest position lies in the box, by tracking number.

use super::super::AppState;
use crate::http::request::query_param;
use crate::http::Reply;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::{doc, Bson, Document};
use serde::Serialize;
use shared::domain::Coordinates;

const MAX_RESULTS: i64 = 1000;

#[derive(Serialize, utoipa::ToSchema)]
pub struct PositionView {
    tracking_number: Option<String>,
    package_id: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    recorded_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_m: Option<f64>,
}

/// `bbox=minLon,minLat,maxLon,maxLat` from the query string, each corner a
/// valid coordinate and min < max.
pub fn parse_bbox(query: Option<&str>) -> Result<[f64; 4], Reply> {
    let invalid = || {
        Reply::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bbox must be minLon,minLat,maxLon,maxLat with valid coordinates and min < max",
        )
    };
    let raw = query_param(query, "bbox").ok_or_else(invalid)?;
    // At most five parts are looked at: a bbox of a million commas costs
    // no more than one of four.
    let parts: Vec<f64> = raw
        .splitn(5, ',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
        return Err(invalid());
    };
    let corners_valid =
        Coordinates::new(min_lat, min_lon).is_ok() && Coordinates::new(max_lat, max_lon).is_ok();
    if !corners_valid || min_lon >= max_lon || min_lat >= max_lat {
        return Err(invalid());
    }
    Ok([min_lon, min_lat, max_lon, max_lat])
}

pub fn position_view(document: &Document) -> PositionView {
    let (latitude, longitude) = super::document_position(document);
    PositionView {
        tracking_number: document.get_str("_id").ok().map(str::to_owned),
        package_id: document.get_str("package_id").ok().map(str::to_owned),
        latitude,
        longitude,
        recorded_at: super::document_time(document, "recorded_at"),
        distance_m: document.get("distance_m").and_then(Bson::as_f64),
    }
}

#[utoipa::path(get, path = "/api/v1/locations/within", tag = "locations",
    params(crate::openapi::WithinQuery),
    responses(
        (status = 200, description = "Packages whose latest position lies in the box", body = Vec<PositionView>),
        (status = 422, description = "Invalid bbox", body = crate::http::response::ErrorBody),
        (status = 503, description = "The location store is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    query: Option<&str>,
) -> Result<Reply, Reply> {
    crate::authn::require(caller, shared::auth::Action::SearchArea)?;
    let [min_lon, min_lat, max_lon, max_lat] = parse_bbox(query)?;
    // A GeoJSON polygon: understood by a 2dsphere index on real MongoDB and
    // the stand-in alike (a legacy $box is planar only).
    let ring = vec![
        Bson::Array(vec![min_lon.into(), min_lat.into()]),
        Bson::Array(vec![max_lon.into(), min_lat.into()]),
        Bson::Array(vec![max_lon.into(), max_lat.into()]),
        Bson::Array(vec![min_lon.into(), max_lat.into()]),
        Bson::Array(vec![min_lon.into(), min_lat.into()]),
    ];
    let filter = doc! { "location": { "$geoWithin": { "$geometry": { "type": "Polygon", "coordinates": [ring] } } } };
    let latest = state
        .mongo
        .database(&state.mongo_database)
        .collection::<Document>("latest_positions");
    let documents: Vec<Document> = async {
        latest
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(MAX_RESULTS)
            .await?
            .try_collect()
            .await
    }
    .await
    .map_err(|error: mongodb::error::Error| {
        tracing::warn!(%error, "within query failed");
        Reply::unavailable("location store")
    })?;
    let views: Vec<PositionView> = documents.iter().map(position_view).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}
