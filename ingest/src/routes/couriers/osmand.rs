//! The OsmAnd protocol endpoint: `/osmand` on the main port (any method),
//! and every request on `OSMAND_LISTEN` (Traccar Client's port 5055). A
//! report is decoded as Traccar decodes it ([`shared::couriers::osmand`]),
//! its device found by its identifier (the protocol's only credential:
//! stored hashed, looked up under the same limit on misses as API keys),
//! and published as the device's courier's position.
//!
//! Answers as Traccar's: 200 with an empty body once the broker confirmed;
//! an unknown identifier 400 (form) or 404 (JSON). Unlike Traccar, a
//! malformed report gets a 400 with a JSON error instead of a closed
//! connection, and a report whose time is outside the location rules is
//! answered 200 and dropped (Traccar Client would re-send it forever).

use crate::credentials::Refused;
use crate::http::request::{read_limited, BodyLimits};
use crate::http::{ApiError, Reply};
use crate::routes::AppState;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use shared::auth::Caller;
use shared::couriers::osmand::{self, Format, Report};
use shared::couriers::CourierPoint;
use shared::locations::parse::{now_ms, within_rules};
use uuid::Uuid;

/// Traccar's limit on a report's body.
const BODY_MAX: usize = 16 * 1024;

/// Ids of reports: a device that re-sends a report (Traccar Client retries
/// until it gets a 200) names the same fix, stored once.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_9d2e_83a4_4b57_a0c3_5e7d_21b9_f048);

/// Answers one OsmAnd request from `network` (whose unknown identifiers
/// count against the misses limit).
pub async fn handle(state: &AppState, request: Request<Incoming>, network: &str) -> Reply {
    report(state, request, network)
        .await
        .unwrap_or_else(ApiError::into_reply)
}

async fn report(
    state: &AppState,
    request: Request<Incoming>,
    network: &str,
) -> Result<Reply, ApiError> {
    let query = request.uri().query().map(str::to_owned);
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let trace = crate::routes::trace_of(&request);
    let mut source = crate::authn::principal_of(&request, None);
    let limits = BodyLimits {
        max_bytes: BODY_MAX,
        read_timeout: state.body.read_timeout,
        budget: state.body.budget.clone(),
    };
    let body = read_limited(request, &limits).await?;
    let report = osmand::decode(query.as_deref(), content_type.as_deref(), &body)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let caller = device(state, &report, network).await?;
    let received_at = now_ms();
    let Some(recorded_at) = fix_time(state, &report, &caller, received_at) else {
        return Ok(Reply::empty(StatusCode::OK));
    };
    let address = source.address.take();
    source = shared::wire::Principal {
        address,
        ..caller.principal()
    };
    let point = CourierPoint {
        point_id: point_id(&caller, &report, recorded_at),
        courier_id: caller.user_id,
        device_id: caller.device_id,
        coordinates: report.coordinates,
        measurements: report.measurements,
        battery: report.battery,
        attributes: report.attributes,
        recorded_at,
        received_at,
        source: None,
    };
    if let Err(error) = state
        .point_groups
        .publish_reports(vec![point], source, trace)
        .await
    {
        tracing::warn!(%error, "an OsmAnd report not accepted by the broker");
        return Err(ApiError::unavailable("message broker"));
    }
    Ok(Reply::empty(StatusCode::OK))
}

/// When the fix was taken (the receive time if not said), or `None` when
/// it is outside the location rules. Traccar Client re-sends its oldest
/// record until it gets a 200: refusing a record from a clock far off would
/// stop the device for good, so such a report is answered and dropped.
fn fix_time(
    state: &AppState,
    report: &Report,
    caller: &Caller,
    received_at: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = report.recorded_at.unwrap_or(received_at);
    match within_rules(time, &state.point_rules, received_at) {
        Ok(time) => Some(time),
        Err(problem) => {
            tracing::info!(device = ?caller.device_id, %problem, "an OsmAnd report's time is outside the rules; dropped");
            None
        }
    }
}

/// The device the report's identifier names; unknown: 400 for a form,
/// 404 for JSON (Traccar's answers).
async fn device(state: &AppState, report: &Report, network: &str) -> Result<Caller, ApiError> {
    let checked = state
        .credentials
        .osmand_device(&report.unique_id, network)
        .await;
    match checked {
        Ok(Err(Refused::UnknownKey)) => Err(match report.format {
            Format::Form => ApiError::BadRequest("unknown device".into()),
            Format::Json => ApiError::not_found("unknown device"),
        }),
        other => crate::authn::answer(other),
    }
}

/// The same report re-sent is the same point: its device, time and place.
fn point_id(caller: &Caller, report: &Report, recorded_at: chrono::DateTime<chrono::Utc>) -> Uuid {
    let place = report
        .coordinates
        .map(|c| format!("{} {}", c.latitude(), c.longitude()))
        .unwrap_or_default();
    let device = caller.device_id.unwrap_or_default();
    let time = recorded_at.timestamp_millis();
    Uuid::new_v5(&NAMESPACE, format!("{device} {time} {place}").as_bytes())
}
