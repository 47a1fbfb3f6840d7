//! `GET /api/v1/track/{tn}`: what a recipient with the tracking number may
//! see, without signing in: the status timeline, the last known position
//! and the arrival estimate.
//! Nothing else (no names, addresses, accounts or devices). Public, so it is
//! rate-limited per client address (`RATE_LIMIT_TRACK_PER_MIN`), and an
//! unknown number answers like a malformed one.

use super::AppState;
use crate::http::{ApiError, Reply};
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde::Serialize;
use shared::domain::TrackingNumber;
use shared::packages::aboard;

/// The public view of a package.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tracking {
    pub tracking_number: String,
    pub status: String,
    /// The package's sequence number now: a WebSocket subscription with
    /// `since_seq` set to it hears only what comes after.
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Status changes, oldest first (creation included).
    pub timeline: Vec<TimelineEntry>,
    /// The last reported position, if any.
    pub last_position: Option<Position>,
    /// When it should arrive, and the window it is likely in: while it is
    /// out for delivery on a courier's run to a known destination.
    pub eta: Option<shared::notices::Eta>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// The change's number in the package's sequence (as in `package_update`).
    pub seq: Option<i64>,
    pub status: String,
    /// Where the change was reported (a place name), if given.
    pub location: Option<String>,
    pub timestamp: DateTime<Utc>,
}

impl From<shared::packages::StatusEventRow> for TimelineEntry {
    fn from(row: shared::packages::StatusEventRow) -> Self {
        Self {
            seq: row.seq,
            status: row.status,
            location: row.location,
            timestamp: row.occurred_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    pub location: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/track/{tracking_number}", tag = "tracking",
    params(("tracking_number" = String, Path, description = "The number on the parcel")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "What the number may reveal", body = Tracking),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many lookups from this address", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, raw: &str) -> Result<Reply, ApiError> {
    let Ok(tracking_number) = TrackingNumber::parse(raw) else {
        return Err(ApiError::package_not_found(raw));
    };
    let tn = tracking_number.as_str();
    // The sequence first: a change committed while the rest is read is then
    // sent again over the WebSocket (the page skips seqs it has), never lost.
    // Anyone's: the replica, while it is current.
    let pool = state.reads.pool_for(None).await;
    let Some(seq) = shared::packages::reads::head(pool, tn).await? else {
        return Err(ApiError::package_not_found(tn));
    };
    let Some(mut package) = shared::packages::reads::view(pool, tn).await? else {
        return Err(ApiError::package_not_found(tn));
    };
    // Out for delivery aboard a courier, the parcel is where the courier is
    // (before that, and who the courier is, stays out of the public view).
    let reader = aboard::Reader::Outsider;
    if aboard::may_ride(&package) && reader.may_learn(package.status) {
        if let Some(carrier) = aboard::carrier(pool, tn).await? {
            let exposure = aboard::exposure(reader, package.status, carrier.courier_id);
            let now = chrono::Utc::now();
            aboard::aboard(&mut package, &carrier, &state.presence, now, exposure);
        }
    }
    let history = shared::packages::history::status_history(pool, package.id, 1000).await?;
    let timeline = history.into_iter().map(TimelineEntry::from).collect();
    let last_position = match (package.latitude, package.longitude) {
        (Some(latitude), Some(longitude)) => Some(Position {
            latitude,
            longitude,
            location: package.current_location.clone(),
            timestamp: package.last_seen_at,
        }),
        _ => None,
    };
    let view = Tracking {
        tracking_number: package.tracking_number,
        status: package.status.as_str().to_owned(),
        seq,
        created_at: package.created_at,
        updated_at: package.updated_at,
        timeline,
        last_position,
        eta: package.eta,
    };
    Ok(Reply::json(StatusCode::OK, &view))
}
