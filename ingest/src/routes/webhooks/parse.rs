//! An endpoint's fields, read from a request body and checked, the URL's
//! addresses included (registration refuses what a delivery would).

use crate::http::fields::{Fields, Finish};
use crate::http::ApiError;
use crate::routes::AppState;
use serde_json::{Map, Value};
use shared::auth::policy::sees_all;
use shared::auth::Caller;
use shared::domain::{BoundedText, TrackingNumber};
use shared::webhooks::{kinds, target, MAX_PACKAGES};
use shared::wire::Patch;

const DESCRIPTION_MAX: usize = 200;

/// What a body gives; absent fields are `None` / `Keep`.
#[derive(Default)]
pub struct WebhookFields {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub packages: Patch<Vec<TrackingNumber>>,
    pub description: Patch<BoundedText>,
    pub paused: Option<bool>,
}

impl WebhookFields {
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.events.is_none()
            && matches!(self.packages, Patch::Keep)
            && matches!(self.description, Patch::Keep)
            && self.paused.is_none()
    }
}

/// Reads and checks the fields; `creating` requires `url` and `events`
/// and refuses `paused`. Only a `caller` who sees every package (admin,
/// dispatcher) may ask for couriers' events.
pub async fn fields(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<WebhookFields, ApiError> {
    let mut fields = Fields::new(body);
    let mut found = WebhookFields::default();
    for name in body.keys() {
        if !["url", "events", "packages", "description", "paused"].contains(&name.as_str()) {
            fields.invalid(name, "is not a field of a webhook");
        }
    }
    let rules = state.webhooks.rules;
    let url = if creating {
        fields.required_with("url", |raw| target::parse(raw, rules))
    } else {
        fields.optional_with("url", |raw| target::parse(raw, rules))
    };
    found.events = events(&mut fields, creating, sees_all(caller.role));
    found.packages = match body.get("packages") {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(value) => packages(&mut fields, value).map_or(Patch::Keep, Patch::Set),
    };
    found.description = match body.get("description") {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(_) => fields
            .optional_text("description", DESCRIPTION_MAX)
            .map_or(Patch::Keep, Patch::Set),
    };
    match body.get("paused") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(_)) if creating => fields.invalid("paused", "an endpoint starts active"),
        Some(Value::Bool(paused)) => found.paused = Some(*paused),
        Some(_) => fields.invalid("paused", "must be true or false"),
    }
    fields.finish()?;
    if let Some(target) = url {
        // Where it points now: a name resolving to an internal address is
        // refused here, and again before every delivery.
        if let Err(refusal) = state.webhooks.resolver.vetted(&target, rules).await {
            let mut errors = std::collections::BTreeMap::new();
            errors.insert("url".to_owned(), refusal.to_string());
            return Err(ApiError::fields(errors));
        }
        found.url = Some(target.url);
    }
    Ok(found)
}

fn events(fields: &mut Fields<'_>, required: bool, staff: bool) -> Option<Vec<String>> {
    let value = match fields.get("events") {
        Some(value) => value,
        None if required => {
            fields.invalid("events", "is required: a list of event kinds");
            return None;
        }
        None => return None,
    };
    let Some(list) = value.as_array().filter(|list| !list.is_empty()) else {
        fields.invalid(
            "events",
            format!("must be a non-empty list of: {}", kinds::ALL.join(", ")),
        );
        return None;
    };
    let mut events: Vec<String> = Vec::new();
    for item in list {
        match item.as_str().and_then(kinds::parse) {
            Some(kind) if kinds::is_courier(kind) && !staff => {
                fields.invalid(
                    "events",
                    format!("{kind}: couriers' events are for admins' and dispatchers' endpoints"),
                );
                return None;
            }
            Some(kind) if !events.iter().any(|e| e == kind) => events.push(kind.to_owned()),
            Some(_) => {}
            None => {
                fields.invalid(
                    "events",
                    format!(
                        "{item} is not an event kind; use: {}",
                        kinds::ALL.join(", ")
                    ),
                );
                return None;
            }
        }
    }
    Some(events)
}

fn packages(fields: &mut Fields<'_>, value: &Value) -> Option<Vec<TrackingNumber>> {
    let Some(list) = value
        .as_array()
        .filter(|l| !l.is_empty() && l.len() <= MAX_PACKAGES)
    else {
        fields.invalid(
            "packages",
            format!("must be null or a list of 1 to {MAX_PACKAGES} tracking numbers"),
        );
        return None;
    };
    let mut packages = Vec::with_capacity(list.len());
    for item in list {
        match item.as_str().map(TrackingNumber::parse) {
            Some(Ok(tn)) => packages.push(tn),
            _ => {
                fields.invalid("packages", format!("{item} is not a tracking number"));
                return None;
            }
        }
    }
    Some(packages)
}
