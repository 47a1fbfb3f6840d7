//! `GET /api/v1/locations/near?lat=&lon=&radius_m=&limit=`: packages whose
//! latest position lies within the radius, nearest first, with the distance.

use super::super::AppState;
use crate::http::{ApiError, Query, Reply};
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
pub fn parse_query(query: Query<'_>) -> Result<NearQuery, ApiError> {
    let number = |name: &str| {
        query
            .text(name)
            .and_then(|raw| raw.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let (Some(lat), Some(lon)) = (number("lat"), number("lon")) else {
        return Err(ApiError::invalid("lat and lon are required numbers"));
    };
    let center = Coordinates::new(lat, lon).map_err(|e| ApiError::invalid(e.to_string()))?;
    let radius = number("radius_m")
        .ok_or_else(|| ApiError::invalid("radius_m is a required number of metres"))?;
    if !(radius > 0.0 && radius <= MAX_RADIUS_M) {
        return Err(ApiError::invalid(
            "radius_m must be greater than 0 and at most 1000000",
        ));
    }
    Ok(NearQuery {
        center,
        radius,
        limit: query.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
    })
}

#[utoipa::path(get, path = "/api/v1/locations/near", tag = "locations",
    params(crate::schemas::NearQuery),
    responses(
        (status = 200, description = "Packages by their latest position, nearest first", body = Vec<PositionView>),
        (status = 422, description = "Invalid lat, lon, radius_m or limit", body = crate::http::error::ErrorBody),
        (status = 503, description = "The location store is unavailable", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    crate::authn::require(caller, shared::auth::Action::SearchArea)?;
    let NearQuery {
        center,
        radius,
        limit,
    } = parse_query(query)?;
    // $geoNear, not $near: it returns distances and a guaranteed order.
    let pipeline = stored::near_pipeline(center, radius, limit);
    let latest = super::collection(state, stored::LATEST);
    let found: Vec<LatestDoc> = super::found("near", latest.aggregate(pipeline)).await?;
    Ok(super::positions(&found))
}
