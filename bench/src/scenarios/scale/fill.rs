//! Filling the stores to a size, straight into them (not through the API:
//! ten million packages through ingest would take hours), with every index
//! and trigger of the running system in place.
//!
//! The fill's packages are `SCALE000000001`, `SCALE000000002`, ...: a later
//! run finds how far an earlier one got and goes on from there, so the
//! sizes grow across runs instead of being rebuilt.

use crate::system::System;
use anyhow::Context;
use shared::locations::stored::{self, GeoPoint, HistoryDoc, LatestDoc};
use std::time::{Duration, Instant};

pub const PREFIX: &str = "SCALE";
/// Rows per INSERT statement (one transaction each).
const CHUNK: u64 = 200_000;
/// Documents per `insert_many`.
const DOCS: u64 = 5_000;

/// The tracking number of the fill's `n`th package (from 1).
pub fn tracking_number(n: u64) -> String {
    shared::packages::bulk::numbered(PREFIX, n)
}

/// Inserts the fill's packages up to `size` (each with its creation event),
/// in chunks. The time taken.
pub async fn packages_to(system: &System, size: u64) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let mut filled = shared::packages::bulk::filled(&system.pool, PREFIX).await?;
    while filled < size {
        let end = (filled + CHUNK).min(size);
        shared::packages::bulk::insert_numbered(&system.pool, PREFIX, filled + 1, end)
            .await
            .with_context(|| format!("filling packages {} to {end}", filled + 1))?;
        filled = end;
        eprintln!("scale: {filled} packages");
    }
    shared::packages::bulk::vacuum_analyze(&system.pool).await?;
    Ok(began.elapsed())
}

/// What MongoDB holds of the fill: history points and latest positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Documents {
    pub history: u64,
    pub latest: u64,
}

async fn documents_filled(system: &System) -> anyhow::Result<Documents> {
    let range = mongodb::bson::doc! {"$gte": PREFIX, "$lt": format!("{PREFIX}~")};
    let history = system
        .mongo
        .collection::<HistoryDoc>(stored::HISTORY)
        .count_documents(mongodb::bson::doc! {"tracking_number": range.clone()})
        .await?;
    let latest = system
        .mongo
        .collection::<LatestDoc>(stored::LATEST)
        .count_documents(mongodb::bson::doc! {"_id": range})
        .await?;
    Ok(Documents { history, latest })
}

/// History points (five per package, over the fill's packages in order) up
/// to `history`, and latest positions up to `latest`. The time taken, and
/// what MongoDB then holds of the fill (counted once: counting a million
/// documents costs the stand-in half a minute).
pub async fn documents_to(
    system: &System,
    wanted: Documents,
) -> anyhow::Result<(Duration, Documents)> {
    let began = Instant::now();
    let have = documents_filled(system).await?;
    let history = system.mongo.collection::<HistoryDoc>(stored::HISTORY);
    let mut n = have.history;
    while n < wanted.history {
        let end = (n + DOCS).min(wanted.history);
        let batch: Vec<HistoryDoc> = (n..end).map(history_point).collect();
        history.insert_many(batch).ordered(false).await?;
        n = end;
        if n % 100_000 == 0 {
            eprintln!("scale: {n} history points");
        }
    }
    let latest = system.mongo.collection::<LatestDoc>(stored::LATEST);
    let mut n = have.latest;
    while n < wanted.latest {
        let end = (n + DOCS).min(wanted.latest);
        let batch: Vec<LatestDoc> = (n + 1..=end).map(latest_position).collect();
        latest.insert_many(batch).ordered(false).await?;
        n = end;
    }
    let held = Documents {
        history: have.history.max(wanted.history),
        latest: have.latest.max(wanted.latest),
    };
    Ok((began.elapsed(), held))
}

/// The `i`th history point (from 0): package `i / 5 + 1`, point `i % 5`.
fn history_point(i: u64) -> HistoryDoc {
    let package = i / 5 + 1;
    let now = mongodb::bson::DateTime::now();
    let (latitude, longitude) = around_new_york(package);
    HistoryDoc {
        point_id: uuid::Uuid::new_v4().to_string(),
        package_id: None,
        tracking_number: tracking_number(package),
        location: GeoPoint::new(latitude, longitude + (i % 5) as f64 / 10_000.0),
        recorded_at: mongodb::bson::DateTime::from_millis(
            now.timestamp_millis() - 60_000 * (5 - (i % 5) as i64),
        ),
        received_at: now,
        seq: (i % 5) as i64 + 2,
        address: None,
        measurements: Default::default(),
    }
}

fn latest_position(package: u64) -> LatestDoc {
    let (latitude, longitude) = around_new_york(package);
    LatestDoc {
        tracking_number: tracking_number(package),
        package_id: None,
        location: GeoPoint::new(latitude, longitude),
        recorded_at: mongodb::bson::DateTime::now(),
        point_id: None,
        distance_m: None,
    }
}

/// A position spread over about 50 × 50 km, the same for a package each time.
pub fn around_new_york(package: u64) -> (f64, f64) {
    let spread = |n: u64, m: u64| (n % m) as f64 / m as f64 * 0.45;
    (
        40.5 + spread(package, 1009),
        -74.2 + spread(package / 1009, 997),
    )
}
