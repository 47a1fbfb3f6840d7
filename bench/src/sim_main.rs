//! `dt-sim`: drives a simulated fleet against a running DeliverTrack
//! (`scripts/up.sh`). `dt-sim --help` lists the flags.

use anyhow::Context;
use bench::sim::api::Api;
use bench::sim::fleet::{self, Protocol, Settings, Totals};
use bench::sim::grid::Grid;
use clap::Parser;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// N couriers driving runs of stops through a street grid, posting their
/// fixes as Traccar Client does (or through the JSON API), delivering their
/// parcels on the way. Sign-in: --token, DT_SIM_TOKEN, or
/// BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD (.local/auth.env,
/// written by scripts/up.sh).
#[derive(Parser)]
#[command(name = "dt-sim", version)]
struct Args {
    /// Couriers on the road.
    #[arg(long, default_value_t = 20)]
    couriers: usize,
    /// Parcels (stops) per run.
    #[arg(long, default_value_t = 8)]
    stops: usize,
    /// Simulated seconds per real second (1: real time).
    #[arg(long, default_value_t = 10.0)]
    speedup: f64,
    /// Real seconds between a device's fixes.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Driving speed, metres per second.
    #[arg(long, default_value_t = 8.0)]
    speed: f64,
    /// Simulated seconds spent handing a parcel over.
    #[arg(long, default_value_t = 90.0)]
    service: f64,
    /// The depot: latitude,longitude (default: Berlin).
    #[arg(long, default_value = "52.5200,13.4050")]
    centre: String,
    /// Street blocks, metres.
    #[arg(long, default_value_t = 150.0)]
    block: f64,
    /// How many blocks from the depot stops may lie.
    #[arg(long, default_value_t = 12)]
    radius: i32,
    #[arg(long, value_enum, default_value_t = Protocol::Osmand)]
    protocol: Protocol,
    /// The API, with its prefix.
    #[arg(long, default_value = "http://127.0.0.1:8080/api/v1")]
    api: String,
    /// The OsmAnd endpoint (OSMAND_LISTEN).
    #[arg(long, default_value = "http://127.0.0.1:5055/")]
    osmand: String,
    /// Runs per courier, then stop (default: until Ctrl-C).
    #[arg(long)]
    runs: Option<usize>,
    /// An admin's or dispatcher's access token.
    #[arg(long, env = "DT_SIM_TOKEN")]
    token: Option<String>,
    /// Seed of the stops' placement (the same seed, the same city).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Args {
    fn settings(&self) -> anyhow::Result<Settings> {
        let (lat, lon) = self
            .centre
            .split_once(',')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .context("--centre is latitude,longitude")?;
        anyhow::ensure!(
            self.speedup > 0.0 && self.interval > 0.0,
            "--speedup and --interval are above 0"
        );
        Ok(Settings {
            couriers: self.couriers,
            stops: self.stops.max(1),
            speedup: self.speedup,
            interval: Duration::from_secs_f64(self.interval),
            speed_mps: self.speed,
            service_s: self.service,
            grid: Grid {
                centre: (lat, lon),
                block_m: self.block,
                radius_blocks: self.radius,
            },
            protocol: self.protocol,
            api: self.api.clone(),
            osmand: self.osmand.clone(),
            runs: self.runs,
            seed: self.seed,
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line: what went wrong and where, never a backtrace.
            eprintln!("dt-sim: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::try_parse().unwrap_or_else(|error| shared::help::refuse(error, "dt-sim"));
    let settings = args.settings()?;
    let login = match (
        std::env::var("BOOTSTRAP_ADMIN_EMAIL"),
        std::env::var("BOOTSTRAP_ADMIN_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) => Some((email, password)),
        _ => None,
    };
    let api = Api::connect(&settings.api, args.token.clone(), login).await?;
    let totals = Arc::new(Totals::default());
    let stop = CancellationToken::new();
    let ctrl_c = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        ctrl_c.cancel();
    });
    let progress = tokio::spawn(report(Arc::clone(&totals), stop.clone()));
    eprintln!(
        "dt-sim: {} couriers, {} stops a run, {}x time, posting over {:?}; Ctrl-C stops",
        settings.couriers, settings.stops, settings.speedup, settings.protocol
    );
    let driven = fleet::drive(settings, api, Arc::clone(&totals), stop.clone()).await;
    stop.cancel();
    let _ = progress.await;
    driven
}

/// A line every ten seconds, and one at the end.
async fn report(totals: Arc<Totals>, stop: CancellationToken) {
    let line = |t: &Totals| {
        eprintln!(
            "fixes posted {} (refused {}), parcels delivered {}, runs completed {}",
            t.fixes.load(Ordering::Relaxed),
            t.refused.load(Ordering::Relaxed),
            t.delivered.load(Ordering::Relaxed),
            t.runs.load(Ordering::Relaxed),
        )
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return line(&totals),
            _ = tokio::time::sleep(Duration::from_secs(10)) => line(&totals),
        }
    }
}
