//! The OpenAPI shapes of the zone bodies (parsed field by field in
//! [`super::write`]).

use serde::Deserialize;
use utoipa::ToSchema;

/// A circle: its centre and radius.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct GeofenceCircle {
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    /// At most 50 km.
    #[schema(exclusive_minimum = 0.0, maximum = 50000.0)]
    radius_m: f64,
}

/// A GeoJSON Polygon: closed rings of `[longitude, latitude]`, the first
/// the outline, the others holes; not self-intersecting, at most 1000
/// vertices, at most 100 km across.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct GeofencePolygon {
    #[schema(pattern = "^Polygon$")]
    r#type: String,
    #[schema(min_items = 1)]
    coordinates: Vec<Vec<[f64; 2]>>,
}

/// `POST /api/v1/geofences`: a name and exactly one of `circle` or `polygon`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct GeofenceRequest {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    circle: Option<GeofenceCircle>,
    polygon: Option<GeofencePolygon>,
    /// Report a stay this long (seconds, at most a week) as `geofence_dwelled`.
    #[schema(minimum = 0, maximum = 604800)]
    dwell_s: Option<u32>,
    /// A border crossing within the fix's accuracy counts after this long
    /// on the new side (seconds, default 30, at most an hour).
    #[schema(minimum = 0, maximum = 3600)]
    debounce_s: Option<u32>,
    /// Only these packages (at most 1000); with `courier_ids` empty too,
    /// every package and courier.
    #[schema(max_items = 1000)]
    tracking_numbers: Option<Vec<String>>,
    /// Only these couriers (at most 1000).
    #[schema(max_items = 1000)]
    courier_ids: Option<Vec<uuid::Uuid>>,
}

/// `PATCH /api/v1/geofences/{id}`: any of the fields of a create
/// (`dwell_s: null` stops dwell reports).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct GeofencePatch {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    circle: Option<GeofenceCircle>,
    polygon: Option<GeofencePolygon>,
    #[schema(minimum = 0, maximum = 604800)]
    dwell_s: Option<u32>,
    #[schema(minimum = 0, maximum = 3600)]
    debounce_s: Option<u32>,
    #[schema(max_items = 1000)]
    tracking_numbers: Option<Vec<String>>,
    #[schema(max_items = 1000)]
    courier_ids: Option<Vec<uuid::Uuid>>,
}

/// A zone.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct Geofence {
    id: uuid::Uuid,
    name: String,
    circle: Option<GeofenceCircle>,
    polygon: Option<GeofencePolygon>,
    dwell_s: Option<u32>,
    debounce_s: u32,
    tracking_numbers: Vec<String>,
    courier_ids: Vec<uuid::Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}
