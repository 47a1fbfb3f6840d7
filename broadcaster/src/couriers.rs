//! Couriers' events (`courier.<id>.<kind>` on the events exchange) as
//! frames: each event is decoded and rendered once, and its bytes shared.
//!
//! - to the courier's watchers and the every-package feed (staff only), a
//!   `courier_update`: every fix of the window, the packages aboard, or the
//!   device's presence;
//! - to the watchers of each package aboard, a `package_position`: the
//!   courier's new latest fix as the package's position, if taken since the
//!   package boarded. Outsiders (a customer, the public page, another
//!   courier) get where and when only, and only once the package is out for
//!   delivery, as they read it ([`shared::packages::aboard::exposure`]).
//!
//! A courier's point is one message however many packages ride along; the
//! fan-out to packages happens here, and only for packages watched here.
//! These frames carry no seq: a package's own events keep their order, and
//! what a client missed it reads again (`GET /couriers`, the package).

use crate::hub::{courier_key, Hub, Outgoing, EVERY_PACKAGE};
use chrono::{DateTime, Utc};
use serde_json::json;
use shared::couriers::render::Position;
use shared::couriers::{CourierEvent, CourierFix};
use shared::packages::aboard::{exposure_when, Exposure};
use shared::wire::{Envelope, SigningKeys};
use std::collections::HashSet;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The routing keys' first word for couriers' events.
pub const ROUTING_PREFIX: &str = "courier.";

/// Every courier's moves: bound while the stream is up, so the watchers of
/// packages aboard any courier hear them (one message per courier window,
/// whichever packages ride along).
pub const EVERY_MOVE: &str = "courier.*.moved";

/// Opens the seal, renders once, offers to the watchers here. An event whose
/// seal does not verify reaches nobody.
pub fn forward(hub: &Hub, keys: &SigningKeys, payload: &[u8]) {
    let event = match Envelope::<CourierEvent>::open(payload, keys) {
        Ok(event) => event,
        Err(error) => {
            hub.metrics.events_refused.inc();
            return tracing::warn!(%error, "courier event refused");
        }
    };
    let courier_id = event.body.courier_id();
    let courier = courier_key(courier_id);
    let at = event.occurred_at;
    // Watchers of the courier and of the feed were checked when they
    // subscribed (dispatch, or the courier themselves). Nothing is
    // rendered for nobody.
    let keys = [courier.as_str(), EVERY_PACKAGE];
    if !hub.watched_of(keys.into_iter()).is_empty() {
        if let Some(frame) = courier_update(&event) {
            let message = aside(frame, at);
            hub.dispatch_aside(&keys, |_| Some(&message));
        }
    }
    let CourierEvent::Moved(moved) = &event.body else {
        return;
    };
    let Some(latest) = moved.points.iter().find(|p| p.is_latest) else {
        // Only late fixes: no package moved.
        return;
    };
    let watched: HashSet<&str> = hub
        .watched_of(moved.packages.iter().map(|p| p.tracking_number.as_str()))
        .into_iter()
        .collect();
    for riding in &moved.packages {
        let tn = riding.tracking_number.as_str();
        // A fix from before the package boarded is not the package's.
        if !watched.contains(tn) || latest.recorded_at < riding.since_at {
            continue;
        }
        let full = package_position(tn, latest, true).map(|f| aside(f, at));
        let position = package_position(tn, latest, false).map(|f| aside(f, at));
        hub.dispatch_aside(&[tn], |reader| {
            match exposure_when(reader, riding.public, courier_id) {
                Exposure::Full => full.as_ref(),
                Exposure::Position => position.as_ref(),
                Exposure::Nothing => None,
            }
        });
    }
}

fn aside(frame: String, occurred_at: DateTime<Utc>) -> Outgoing {
    Outgoing::Aside {
        frame: Utf8Bytes::from(frame),
        occurred_at,
    }
}

/// What a courier's watchers read of one of its events.
fn courier_update(event: &Envelope<CourierEvent>) -> Option<String> {
    serde_json::to_string(&shared::couriers::render::update(
        event.event_id,
        &event.body,
    ))
    .ok()
}

/// A package moving with its courier: the fix as the package's position,
/// the courier not named. `full` (dispatch, the carrying courier) adds the
/// fix's measurements; others get where and when, as their reads do.
fn package_position(tracking_number: &str, fix: &CourierFix, full: bool) -> Option<String> {
    let data = if full {
        serde_json::to_value(Position::of(fix)).ok()?
    } else {
        json!({
            "latitude": fix.coordinates.latitude(),
            "longitude": fix.coordinates.longitude(),
            "timestamp": fix.recorded_at,
        })
    };
    serde_json::to_string(&json!({
        "type": "package_position",
        "tracking_number": tracking_number,
        "data": data,
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::Coordinates;
    use uuid::Uuid;

    fn fix(latitude: f64, is_latest: bool) -> CourierFix {
        CourierFix {
            point_id: Uuid::new_v4(),
            coordinates: Coordinates::new(latitude, 13.4).expect("coordinates"),
            measurements: Default::default(),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            is_latest,
        }
    }

    #[test]
    fn a_package_position_does_not_name_the_courier_and_outsiders_get_where_and_when() {
        let mut moving = fix(52.5, true);
        moving.measurements.speed_mps = Some(9.0);
        for full in [true, false] {
            let frame = package_position("TRK1", &moving, full).expect("a frame");
            let frame: serde_json::Value = serde_json::from_str(&frame).expect("json");
            assert_eq!(frame["type"], "package_position");
            assert_eq!(frame["data"]["latitude"], json!(52.5));
            assert!(!frame.to_string().contains("courier"));
            assert_eq!(frame["data"].get("speed_mps").is_some(), full);
        }
    }
}
