//! The fleet: one task per courier, each set up through the API (an
//! account, a device, a run of parcels out for delivery), then driving its
//! runs in simulated time, posting fixes every interval of real time and
//! marking each parcel delivered at its stop.

use super::api::{Api, Fix, Poster};
use super::driver::{Driver, Happened};
use super::grid::{Corner, Grid};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How the devices post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Traccar Client's OsmAnd requests to `--osmand`.
    Osmand,
    /// `POST /api/v1/me/location` with the device's API key.
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub couriers: usize,
    pub stops: usize,
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Real time between a device's fixes.
    pub interval: Duration,
    pub speed_mps: f64,
    pub service_s: f64,
    pub grid: Grid,
    pub protocol: Protocol,
    /// `http://host:port/api/v1`.
    pub api: String,
    /// The OsmAnd endpoint (`OSMAND_LISTEN`, or ingest's `/osmand`).
    pub osmand: String,
    /// Runs per courier before it stops (`None`: until stopped).
    pub runs: Option<usize>,
    pub seed: u64,
}

/// What the fleet did, counted as it happens.
#[derive(Debug, Default)]
pub struct Totals {
    pub fixes: AtomicU64,
    pub refused: AtomicU64,
    pub delivered: AtomicU64,
    pub runs: AtomicU64,
}

/// A courier's device, ready to post.
pub struct Courier {
    pub id: Uuid,
    pub poster: Poster,
}

/// A courier account and its device (one per simulated courier).
pub async fn enlist(
    api: &Api,
    settings: &Settings,
    tag: &str,
    n: usize,
) -> anyhow::Result<Courier> {
    let id = api.courier(tag, n).await?;
    let device = api.device(id, &format!("sim phone {n}")).await?;
    let poster = match settings.protocol {
        Protocol::Osmand => Poster::OsmAnd {
            url: settings.osmand.clone(),
            unique_id: device.unique_id,
        },
        Protocol::Json => Poster::Json {
            url: format!("{}/me/location", settings.api.trim_end_matches('/')),
            api_key: device.api_key,
        },
    };
    Ok(Courier { id, poster })
}

/// `count` parcels for the courier, in transit, then on a run together and
/// out for delivery: the run's id and the parcels' tracking numbers.
/// Parcels bound for `destinations` (latitude, longitude; one each), on a
/// run of the courier's, out for delivery.
pub async fn load_van(
    api: &Api,
    courier: Uuid,
    tracking_numbers: &[String],
    destinations: &[(f64, f64)],
) -> anyhow::Result<Uuid> {
    for (tn, destination) in tracking_numbers.iter().zip(destinations) {
        api.parcel(tn, "Simulated street", *destination).await?;
    }
    let run = api.run(courier, tracking_numbers).await?;
    for tn in tracking_numbers {
        api.status(tn, "out_for_delivery", "Depot").await?;
    }
    Ok(run)
}

/// Drives every courier until `stop` (or their runs are done).
pub async fn drive(
    settings: Settings,
    api: Api,
    totals: Arc<Totals>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let tag = format!("{:x}", Uuid::new_v4().as_fields().0);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..settings.couriers {
        let courier = enlist(&api, &settings, &tag, n).await?;
        let (settings, api, totals, stop) = (
            settings.clone(),
            api.clone(),
            Arc::clone(&totals),
            stop.clone(),
        );
        let tag = tag.clone();
        tasks.spawn(async move {
            if let Err(error) =
                courier_loop(&settings, &api, &courier, &tag, n, &totals, &stop).await
            {
                eprintln!("courier {n} stopped: {error:#}");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn courier_loop(
    settings: &Settings,
    api: &Api,
    courier: &Courier,
    tag: &str,
    n: usize,
    totals: &Totals,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(settings.seed.wrapping_add(n as u64));
    let http = Poster::client()?;
    let mut battery = 100.0;
    for round in 0.. {
        if stop.is_cancelled() || settings.runs.is_some_and(|runs| round >= runs) {
            break;
        }
        let stops: Vec<Corner> = (0..settings.stops)
            .map(|_| settings.grid.random_corner(&mut rng))
            .collect();
        let mut driver = Driver::new(settings.grid, stops, settings.speed_mps, settings.service_s);
        driver.battery_pct = battery;
        let parcels: Vec<String> = (0..driver.stops().len())
            .map(|k| format!("SIM{tag}C{n:03}R{round:04}S{k:03}"))
            .collect();
        let destinations: Vec<(f64, f64)> = driver
            .stops()
            .iter()
            .map(|c| {
                let block = settings.grid.block_m;
                settings
                    .grid
                    .lat_lon(f64::from(c.x) * block, f64::from(c.y) * block)
            })
            .collect();
        let run = load_van(api, courier.id, &parcels, &destinations).await?;
        let finished = ride(
            settings,
            api,
            courier,
            &http,
            &mut driver,
            &parcels,
            totals,
            stop,
        )
        .await?;
        battery = driver.battery_pct;
        if finished {
            api.complete(run).await?;
            totals.runs.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// One run, driven to its end (true) or until `stop` (false).
#[allow(clippy::too_many_arguments)]
async fn ride(
    settings: &Settings,
    api: &Api,
    courier: &Courier,
    http: &reqwest::Client,
    driver: &mut Driver,
    parcels: &[String],
    totals: &Totals,
    stop: &CancellationToken,
) -> anyhow::Result<bool> {
    let tick = settings.interval.min(Duration::from_millis(250));
    let mut last = Instant::now();
    let mut next_fix = Instant::now();
    while !driver.ended() {
        tokio::select! {
            _ = stop.cancelled() => return Ok(false),
            _ = tokio::time::sleep(tick) => {}
        }
        let now = Instant::now();
        let simulated = now.duration_since(last).as_secs_f64() * settings.speedup;
        last = now;
        for happened in driver.advance(simulated) {
            if let Happened::Arrived(k) = happened {
                if let Some(tn) = parcels.get(k) {
                    api.status(tn, "delivered", "Front door").await?;
                    totals.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if now >= next_fix {
            next_fix = now + settings.interval;
            match courier.poster.post(http, &fix(settings, driver)).await {
                Ok(()) => totals.fixes.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    eprintln!("{error:#}");
                    totals.refused.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }
    Ok(true)
}

fn fix(settings: &Settings, driver: &Driver) -> Fix {
    let place = driver.place();
    let (latitude, longitude) = settings.grid.lat_lon(place.east_m, place.north_m);
    Fix {
        latitude,
        longitude,
        speed_mps: driver.speed_mps(),
        heading_deg: place.heading_deg,
        battery_pct: driver.battery_pct,
        at: chrono::Utc::now(),
    }
}
