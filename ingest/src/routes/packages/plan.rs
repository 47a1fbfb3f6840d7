//! `PATCH /api/v1/packages/{tn}`: a package's destination and promised
//! time (`destination`, `promised_by`; the other fields are fixed at
//! create). Also the parsing both share with the create.

use crate::authn;
use crate::http::fields::{Fields, Finish};
use crate::http::request::json_object;
use crate::http::{ApiError, Reply};
use crate::routes::write::{submit, unexpected, WriteOptions};
use crate::routes::AppState;
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::{Coordinates, TrackingNumber};
use shared::wire::{Command, Event, PackageEvent, Patch, UpdatePlan};

/// How far ahead a promise may be.
const PROMISE_HORIZON_DAYS: i64 = 366;

/// `PATCH /api/v1/packages/{tracking_number}`: a field left out stays as it
/// is, `null` clears it; at least one is required.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PackagePlanPatch {
    destination: Option<shared::packages::Place>,
    #[schema(format = "date-time")]
    promised_by: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Planned {
    tracking_number: String,
    #[schema(value_type = Option<shared::packages::Place>)]
    destination: Option<Coordinates>,
    promised_by: Option<DateTime<Utc>>,
    version: i64,
}

#[utoipa::path(patch, path = "/api/v1/packages/{tracking_number}", tag = "packages",
    params(("tracking_number" = String, Path, description = "4-64 of A-Z a-z 0-9 - _; anything else names no package (404)"), crate::schemas::WriteHeaders),
    request_body = PackagePlanPatch,
    responses(
        crate::http::documented::BodyErrors, crate::routes::write::Queued,
        (status = 200, description = "Changed", body = Planned),
        (status = 403, description = "Only admins and dispatchers change a package's plan", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such package", body = crate::http::error::ErrorBody),
        (status = 409, description = "A newer change was applied first", body = crate::http::error::ErrorBody),
        (status = 422, description = "Invalid fields, or nothing to change", body = crate::http::error::InvalidFields)))]
pub async fn patch(
    state: &AppState,
    caller: &Caller,
    tracking_number: TrackingNumber,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    authn::require_package(state, caller, Action::UpdatePlan, &tracking_number).await?;
    let options = WriteOptions::from_request(&request, Some(caller))?;
    let body = json_object(request, &state.body).await?;
    let command = parse(tracking_number, &body, Utc::now())?;
    let envelope = options.envelope(options.event_id(), Command::UpdatePlan(command), &body);
    submit(state, envelope, &options, |event| match event {
        Event::Package(PackageEvent::PlanChanged(changed)) => Ok(Reply::json(
            StatusCode::OK,
            &Planned {
                tracking_number: changed.tracking_number.as_str().to_owned(),
                destination: changed.destination,
                promised_by: changed.promised_by,
                version: changed.version,
            },
        )),
        other => Err(unexpected(other)),
    })
    .await
}

pub fn parse(
    tracking_number: TrackingNumber,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<UpdatePlan, ApiError> {
    let mut fields = Fields::new(body);
    for name in body.keys() {
        if !matches!(name.as_str(), "destination" | "promised_by") {
            fields.invalid(
                name,
                "cannot be changed (only destination and promised_by can)",
            );
        }
    }
    let destination = destination(&mut fields, body);
    let promised_by = promised_by(&mut fields, body, now);
    fields.finish()?;
    if matches!((destination, promised_by), (Patch::Keep, Patch::Keep)) {
        return Err(ApiError::invalid_fields(
            "nothing to change: give destination or promised_by",
        ));
    }
    Ok(UpdatePlan {
        tracking_number,
        destination,
        promised_by,
    })
}

/// `destination`: absent (keep), `null` (clear) or `{latitude, longitude}`.
pub fn destination(fields: &mut Fields<'_>, body: &Map<String, Value>) -> Patch<Coordinates> {
    let object = match body.get("destination") {
        None => return Patch::Keep,
        Some(Value::Null) => return Patch::Clear,
        Some(Value::Object(object)) => object,
        Some(_) => {
            fields.invalid("destination", "must be an object {latitude, longitude}");
            return Patch::Keep;
        }
    };
    let number = |name: &str| object.get(name).and_then(Value::as_f64);
    match (number("latitude"), number("longitude"), object.len()) {
        (Some(lat), Some(lon), 2) => match Coordinates::new(lat, lon) {
            Ok(at) => Patch::Set(at),
            Err(problem) => {
                fields.invalid("destination", problem.to_string());
                Patch::Keep
            }
        },
        _ => {
            fields.invalid(
                "destination",
                "must be exactly {latitude, longitude}, both numbers",
            );
            Patch::Keep
        }
    }
}

/// `promised_by`: absent (keep), `null` (clear) or an RFC 3339 time in the
/// future, within a year.
pub fn promised_by(
    fields: &mut Fields<'_>,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Patch<DateTime<Utc>> {
    let raw = match body.get("promised_by") {
        None => return Patch::Keep,
        Some(Value::Null) => return Patch::Clear,
        Some(Value::String(raw)) => raw,
        Some(_) => {
            fields.invalid("promised_by", "must be an RFC 3339 time, as a string");
            return Patch::Keep;
        }
    };
    let Ok(at) = DateTime::parse_from_rfc3339(raw) else {
        fields.invalid(
            "promised_by",
            "must be an RFC 3339 time (2026-12-24T18:00:00Z)",
        );
        return Patch::Keep;
    };
    let at = at.with_timezone(&Utc);
    if at <= now || at > now + chrono::Duration::days(PROMISE_HORIZON_DAYS) {
        fields.invalid("promised_by", "must be in the future, within a year");
        return Patch::Keep;
    }
    Patch::Set(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(body: Value) -> Result<UpdatePlan, ApiError> {
        let Value::Object(body) = body else { panic!() };
        let now = "2026-12-06T10:00:00Z".parse().unwrap();
        parse(TrackingNumber::parse("TRKPLAN1").unwrap(), &body, now)
    }

    #[test]
    fn a_patch_sets_clears_or_keeps_each_field() {
        let set = parsed(json!({"destination": {"latitude": 52.5, "longitude": 13.4},
            "promised_by": "2026-12-06T18:00:00+01:00"}))
        .unwrap();
        assert_eq!(
            set.destination,
            Patch::Set(Coordinates::new(52.5, 13.4).unwrap())
        );
        assert_eq!(
            set.promised_by,
            Patch::Set("2026-12-06T17:00:00Z".parse().unwrap())
        );
        let cleared = parsed(json!({"promised_by": null})).unwrap();
        assert_eq!(
            (cleared.destination, cleared.promised_by),
            (Patch::Keep, Patch::Clear)
        );
    }

    #[test]
    fn bad_plans_are_refused_naming_the_field() {
        for body in [
            json!({}),
            json!({"destination": {"latitude": 91, "longitude": 0}}),
            json!({"destination": {"latitude": "52", "longitude": 13}}),
            json!({"destination": {"latitude": 52, "longitude": 13, "x": 1}}),
            json!({"destination": [52, 13]}),
            json!({"promised_by": "tomorrow"}),
            json!({"promised_by": "2026-12-06T09:00:00Z"}),
            json!({"promised_by": "2028-12-06T09:00:00Z"}),
            json!({"promised_by": 1765000000}),
            json!({"status": "delivered"}),
        ] {
            assert!(parsed(body.clone()).is_err(), "{body}");
        }
    }
}
