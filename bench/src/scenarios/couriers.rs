//! `couriers`: couriers' own positions through the OsmAnd endpoint, each
//! courier carrying a run of [`PACKAGES_ABOARD`] parcels out for delivery
//! (set up by the fleet simulator's code, [`bench::sim`]). Judged against
//! the raw publish-with-confirm rate, as single location posts are: a
//! courier point is one message however many parcels ride along. Beside
//! what is accepted, what is applied: the points in the courier history,
//! per second from the load's start until the last one is stored.

use super::Run;
use crate::load::Request;
use crate::report::{Row, Target};
use bench::sim::api::Api;
use hyper::StatusCode;
use mongodb::bson::doc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parcels on each courier's run (the measure: cost must not grow
/// with them).
pub const PACKAGES_ABOARD: usize = 100;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let name = "couriers (osmand)";
    let couriers = (run.sizes.connections / 8).clamp(2, 8);
    let fleet = Arc::new(set_up(run, couriers).await?);
    let start = Instant::now();
    // Each request a new point: the wall clock's millisecond (never from the
    // future, however long the load) and a place of its own per device.
    let devices = Arc::clone(&fleet);
    let result = run
        .load(name)
        .expecting(StatusCode::OK)
        .run(move |_, i| {
            let (_, unique_id) = &devices[i as usize % devices.len()];
            let step = (i / devices.len() as u64) as f64;
            Request::get(format!(
                "/osmand?id={unique_id}&lat={:.6}&lon=13.405&timestamp={}&speed=15&batt=80",
                52.5 + (step % 100_000.0) / 1e6,
                chrono::Utc::now().timestamp_millis(),
            ))
        })
        .await;
    let accepted = result.ok;
    let ids: Vec<String> = fleet.iter().map(|(id, _)| id.to_string()).collect();
    let applied = run
        .system
        .wait_stored(accepted, Duration::from_secs(600), || {
            stored_points(run, &ids)
        })
        .await;
    let applying = start.elapsed().min(run.sizes.duration + applied.2);
    Ok(rows(run, &result, couriers, applied, applying))
}

/// The rows: accepted, applied (from the load's start until the last point
/// was stored), latency, and the loss check.
fn rows(
    run: &Run<'_>,
    result: &crate::load::LoadResult,
    couriers: usize,
    (all, stored, took): (bool, u64, Duration),
    applying: Duration,
) -> Vec<Row> {
    let name = "couriers (osmand)";
    let accepted = result.ok;
    // With points missing the wait ran to its end: no rate to speak of.
    let applied_per_s = if all {
        stored as f64 / applying.as_secs_f64().max(1e-3)
    } else {
        0.0
    };
    let note = if all {
        format!(
            "all stored {:.1} s after the load (polled each second)",
            took.as_secs_f64()
        )
    } else {
        format!("LOST {} of {accepted}", accepted.saturating_sub(stored))
    };
    vec![
        Row::new(
            name,
            "courier points accepted",
            result.per_second(1.0),
            "point/s",
        )
        .latency(&result.latency)
        .answers(result)
        .baseline("publish-with-confirm", run.baselines.publish_confirm_msgs)
        .target(Target::RatioAtLeast(1.0))
        .note(format!(
            "{couriers} couriers, {PACKAGES_ABOARD} parcels aboard each"
        )),
        Row::new(name, "courier points applied", applied_per_s, "point/s")
            .baseline("publish-with-confirm", run.baselines.publish_confirm_msgs)
            .target(Target::RatioAtLeast(1.0))
            .note("from the load's start to the last point stored"),
        Row::p99(name, &result.latency, 20.0),
        Row::new(
            name,
            "accepted points stored",
            if accepted == 0 { 0.0 } else { stored as f64 },
            "points",
        )
        .target(Target::AtLeast(accepted.max(1) as f64))
        .note(note),
    ]
}

/// `count` couriers, each with a device and a run of parcels out for
/// delivery: each courier's id and OsmAnd identifier.
async fn set_up(run: &Run<'_>, count: usize) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    let base = format!("http://{}{}", run.system.addr, run.system.prefix);
    let api = Api::connect(&base, run.system.ws_token.clone(), None).await?;
    let vans = (0..count).map(|n| {
        let api = api.clone();
        let parcels: Vec<String> = (0..PACKAGES_ABOARD)
            .map(|k| run.tracking_number(&format!("CR{n}"), k))
            .collect();
        async move {
            let courier = api.courier(&run.id, n).await?;
            let device = api.device(courier, &format!("bench phone {n}")).await?;
            // Spread over the 11 km the load's fixes walk north, so every
            // fix re-estimates a run of stops (the arrival work is measured).
            let destinations: Vec<(f64, f64)> = (0..parcels.len())
                .map(|k| (52.5 + 0.001 * k as f64, 13.405 + 0.002 * (k % 7) as f64))
                .collect();
            bench::sim::fleet::load_van(&api, courier, &parcels, &destinations).await?;
            anyhow::Ok((courier, device.unique_id))
        }
    });
    futures_util::future::try_join_all(vans).await
}

/// Courier history documents of these couriers (indexed by courier).
async fn stored_points(run: &Run<'_>, couriers: &[String]) -> u64 {
    run.system
        .mongo
        .collection::<mongodb::bson::Document>(shared::couriers::stored::COURIER_HISTORY)
        .count_documents(doc! { "courier_id": { "$in": couriers } })
        .await
        .unwrap_or(0)
}
