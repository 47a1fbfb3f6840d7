//! `GET /api/v1/locations/near?lat=&lon=&radius_m=&limit=`: packages whose
//! latest position lies within the radius, nearest first, with the distance.

use super::super::AppState;
use crate::http::request::query_param;
use crate::http::Reply;
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::Document;
use shared::domain::Coordinates;
use shared::locations::render::PositionView;
use shared::locations::stored::{self, LatestDoc};

const MAX_RADIUS_M: f64 = 1_000_000.0;
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// What a near query asks for.
#[derive(Debug)]
pub struct NearQuery {
    pub center: Coordinates,
    /// Metres, in (0, 1,000,000].
    pub radius: f64,
    pub limit: i64,
}

/// `lat`, `lon`, `radius_m` and `limit` from the query string.
pub fn parse_query(query: Option<&str>) -> Result<NearQuery, Reply> {
    let invalid = |m: &str| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, m.to_owned());
    let number = |name: &str| {
        query_param(query, name)
            .and_then(|raw| raw.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let (Some(lat), Some(lon)) = (number("lat"), number("lon")) else {
        return Err(invalid("lat and lon are required numbers"));
    };
    let center = Coordinates::new(lat, lon).map_err(|e| invalid(&e.to_string()))?;
    let radius =
        number("radius_m").ok_or_else(|| invalid("radius_m is a required number of metres"))?;
    if !(radius > 0.0 && radius <= MAX_RADIUS_M) {
        return Err(invalid(
            "radius_m must be greater than 0 and at most 1000000",
        ));
    }
    let limit = match query_param(query, "limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 1 => n.min(MAX_LIMIT),
            _ => return Err(invalid("limit must be a whole number from 1 to 1000")),
        },
    };
    Ok(NearQuery {
        center,
        radius,
        limit,
    })
}

#[utoipa::path(get, path = "/api/v1/locations/near", tag = "locations",
    params(crate::schemas::NearQuery),
    responses(
        (status = 200, description = "Packages by their latest position, nearest first", body = Vec<PositionView>),
        (status = 422, description = "Invalid lat, lon, radius_m or limit", body = crate::http::response::ErrorBody),
        (status = 503, description = "The location store is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    query: Option<&str>,
) -> Result<Reply, Reply> {
    crate::authn::require(caller, shared::auth::Action::SearchArea)?;
    let NearQuery {
        center,
        radius,
        limit,
    } = parse_query(query)?;
    // $geoNear, not $near: it returns distances and a guaranteed order.
    let pipeline = stored::near_pipeline(center, radius, limit);
    let latest = super::collection::<Document>(state, stored::LATEST);
    let found: Vec<Document> = async { latest.aggregate(pipeline).await?.try_collect().await }
        .await
        .map_err(|error: mongodb::error::Error| {
            tracing::warn!(%error, "near query failed");
            Reply::unavailable("location store")
        })?;
    let found: Vec<LatestDoc> = stored::readable(found);
    let views: Vec<PositionView> = found.iter().map(PositionView::from).collect();
    Ok(Reply::json(StatusCode::OK, &views))
}
