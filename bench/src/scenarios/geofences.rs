//! `geofences`: what zone evaluation costs the location pool. The same
//! backlog of moving fixes (packages walking a 10 km square) is drained
//! twice in one run: with no zones, then with 10,000 circles (500 in a smoke run) of 30-200 m
//! spread over the square (a dense city: most fixes have zones near them
//! and many cross one), so the second drain pays for the index lookups,
//! hysteresis and notices. The zones are tombstoned afterwards.

use super::drain::{drain_points, operator, Sealed};
use super::Run;
use crate::report::{Row, Target};
use rand::{Rng, SeedableRng};
use shared::domain::{Coordinates, TrackingNumber};
use shared::geofences::stored::GeofenceDoc;
use shared::geofences::{Shape, Zone};
use shared::topology::Topology;
use shared::wire::{Envelope, LocationBatch, LocationPoint};
use uuid::Uuid;

const PACKAGES: usize = 100;
/// The square's south-west corner and side in degrees (~10 km).
const SOUTH: f64 = 48.80;
const WEST: f64 = 2.28;
const SIDE_DEG: f64 = 0.09;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let name = "geofences";
    let points = run.sizes.drain_backlog * 5 / 2;
    let without = drain(run, "GA", points).await?;
    let zones = draw(run).await?;
    let with = drain(run, "GB", points).await;
    erase(run, &zones).await?;
    let (with, notices) = with?;
    let (without, _) = without;
    let cost_us = (1.0 / with - 1.0 / without).max(0.0) * 1e6;
    Ok(vec![
        Row::new(name, &format!("points drained with {} zones", run.sizes.zones), with, "point/s")
            .baseline("the same backlog, no zones", without)
            .target(Target::RatioAtLeast(0.8))
            .note(format!(
                "{points} fixes of {PACKAGES} packages walking a 10 km square in 100-point messages; {notices} zone notices"
            )),
        Row::new(name, "zone evaluation per point", cost_us, "µs")
            .note("the drain time per point with zones minus without (two cores, pools and stores together)"),
    ])
}

/// Drains a backlog of fresh packages' walks; point/s and notices made.
async fn drain(run: &Run<'_>, scenario: &str, points: u64) -> anyhow::Result<(f64, i64)> {
    let numbers = run.seed(scenario, PACKAGES).await?;
    let (messages, sample) = walks(run, &numbers, points)?;
    let (stored, secs, _) = drain_points(run, &messages, &sample, &numbers, points).await?;
    // The notices come after the points of each window: let the queue empty.
    let queue = run.system.config.topology.locations_queue();
    while run.system.queue_depth(&queue).await > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Windows still in flight evaluate after the queue is empty: count
    // until the count holds still for a second.
    let mut notices = -1;
    loop {
        let now = shared::packages::notices::count_for(&run.system.pool, &numbers).await?;
        if now == notices {
            break;
        }
        notices = now;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Ok((stored as f64 / secs, notices))
}

/// Each package walks at ~10 m/s from a random start, a fix a second,
/// turning a little at every step; 100 fixes per message, in time order.
fn walks(
    run: &Run<'_>,
    numbers: &[String],
    points: u64,
) -> anyhow::Result<(Vec<Sealed>, Vec<String>)> {
    let topology = &run.system.config.topology;
    let mut random = rand::rngs::StdRng::seed_from_u64(7);
    let start = chrono::Utc::now() - chrono::Duration::seconds(points as i64 + 60);
    let mut walkers: Vec<(f64, f64, f64)> = numbers
        .iter()
        .map(|_| {
            (
                SOUTH + random.random::<f64>() * SIDE_DEG,
                WEST + random.random::<f64>() * SIDE_DEG,
                random.random::<f64>() * std::f64::consts::TAU,
            )
        })
        .collect();
    let (operator, mut messages, mut sample) = (operator(), Vec::new(), Vec::new());
    for batch in 0..points.div_ceil(100) {
        let index = batch as usize % numbers.len();
        let tn = TrackingNumber::parse(&numbers[index])?;
        let round = batch as i64 / numbers.len() as i64;
        let mut fixes = Vec::with_capacity(100);
        for i in 0..100 {
            let (lat, lon, heading) = &mut walkers[index];
            *heading += (random.random::<f64>() - 0.5) * 0.6;
            *lat = (*lat + heading.cos() * 0.00009).clamp(SOUTH, SOUTH + SIDE_DEG);
            *lon = (*lon + heading.sin() * 0.000135).clamp(WEST, WEST + SIDE_DEG);
            let recorded_at = start + chrono::Duration::seconds(round * 100 + i);
            fixes.push(LocationPoint {
                point_id: Uuid::new_v4(),
                tracking_number: tn.clone(),
                coordinates: Coordinates::new(*lat, *lon)?,
                address: None,
                measurements: shared::locations::Measurements {
                    accuracy_m: Some(8.0),
                    ..Default::default()
                },
                recorded_at,
                received_at: recorded_at,
                source: None,
            });
        }
        sample.push(fixes[(batch % 100) as usize].point_id.to_string());
        let envelope = Envelope::new(
            Uuid::now_v7(),
            chrono::Utc::now(),
            operator.clone(),
            LocationBatch::new(fixes),
        );
        messages.push((
            topology.commands_exchange(),
            Topology::LOCATION_ROUTING_KEY.to_owned(),
            envelope.seal(&run.system.config.signing)?,
        ));
    }
    Ok((messages, sample))
}

/// Stores the zones straight in MongoDB (as the package pool would) and
/// moves the revision so the location workers load them.
async fn draw(run: &Run<'_>) -> anyhow::Result<Vec<Uuid>> {
    let mut random = rand::rngs::StdRng::seed_from_u64(11);
    let now = chrono::Utc::now();
    let mut documents = Vec::with_capacity(run.sizes.zones);
    for i in 0..run.sizes.zones {
        let center = Coordinates::new(
            SOUTH + random.random::<f64>() * SIDE_DEG,
            WEST + random.random::<f64>() * SIDE_DEG,
        )?;
        let zone = Zone {
            id: Uuid::now_v7(),
            name: format!("bench zone {i}"),
            shape: Shape::Circle {
                center,
                radius_m: 30.0 + random.random::<f64>() * 170.0,
            },
            dwell_s: Some(60),
            debounce_s: 30,
            tracking_numbers: Vec::new(),
            courier_ids: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        documents.push(GeofenceDoc::of(&zone).map_err(anyhow::Error::msg)?);
    }
    let ids = documents.iter().filter_map(GeofenceDoc::zone_id).collect();
    let collection = run
        .system
        .mongo
        .collection::<GeofenceDoc>(shared::geofences::stored::GEOFENCES);
    for chunk in documents.chunks(1000) {
        collection.insert_many(chunk).await?;
    }
    shared::geofences::revision::bump_revision(&run.system.pool).await?;
    Ok(ids)
}

/// Tombstones the zones (the workers' caches learn of deletions by them).
async fn erase(run: &Run<'_>, ids: &[Uuid]) -> anyhow::Result<()> {
    let collection = run
        .system
        .mongo
        .collection::<GeofenceDoc>(shared::geofences::stored::GEOFENCES);
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let at = mongodb::bson::DateTime::now();
    collection
        .update_many(
            mongodb::bson::doc! { "_id": { "$in": ids } },
            mongodb::bson::doc! { "$set": { "deleted": true, "updated_at": at }, "$unset": { "area": "", "zone": "" } },
        )
        .await?;
    shared::geofences::revision::bump_revision(&run.system.pool).await?;
    Ok(())
}
