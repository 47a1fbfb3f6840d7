//! `GET /api/v1/locations/within?bbox=minLon,minLat,maxLon,maxLat`: packages
//! whose latest position lies in the box, by tracking number.

use super::super::AppState;
use crate::http::{ApiError, Query, Reply};
use shared::domain::Coordinates;
use shared::locations::render::PositionView;
use shared::locations::stored::{self, LatestDoc};

const MAX_RESULTS: i64 = 1000;

/// `bbox=minLon,minLat,maxLon,maxLat` from the query string, each corner a
/// valid coordinate and min < max.
pub fn parse_bbox(query: Query<'_>) -> Result<[f64; 4], ApiError> {
    let invalid = || {
        ApiError::invalid(
            "bbox must be minLon,minLat,maxLon,maxLat with valid coordinates and min < max",
        )
    };
    let raw = query.text("bbox").ok_or_else(invalid)?;
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

#[utoipa::path(get, path = "/api/v1/locations/within", tag = "locations",
    params(crate::schemas::WithinQuery),
    responses(
        (status = 200, description = "Packages whose latest position lies in the box", body = Vec<PositionView>),
        (status = 422, description = "Invalid bbox", body = crate::http::error::ErrorBody),
        (status = 503, description = "The location store is unavailable", body = crate::http::error::ErrorBody)))]
pub async fn get(
    state: &AppState,
    caller: &shared::auth::Caller,
    query: Query<'_>,
) -> Result<Reply, ApiError> {
    crate::authn::require(caller, shared::auth::Action::SearchArea)?;
    let bbox = parse_bbox(query)?;
    let latest = super::collection(state, stored::LATEST);
    let read = latest
        .find(stored::within_box(bbox))
        .sort(stored::by_tracking_number())
        .limit(MAX_RESULTS);
    let found: Vec<LatestDoc> = super::found("within", read).await?;
    Ok(super::positions(&found))
}
