//! `dt-bench`: measures a running DeliverTrack (`scripts/up.sh`) path by path,
//! each against the raw speed of the dependency beneath it, measured in the
//! same run on the same machine; checks afterwards that nothing accepted was
//! lost; prints a table (or `--json`). `dt-bench --help` lists the flags.
//!
//! - [`load`]: the HTTP load generator (closed or open loop, HDR histograms);
//! - [`baselines`]: the dependencies' raw speed;
//! - [`scenarios`]: one module per path;
//! - [`system`]: the system's stores and queues, for the loss checks;
//! - [`report`]: the table, the JSON and the latency chart.
//!
//! The stores and queues are found through the same environment variables the
//! services read (`DATABASE_URL`, `AMQP_PREFIX`, ...), localhost by default.

mod baselines;
mod load;
mod report;
mod scenarios;
mod sign_in;
mod system;

use anyhow::{bail, Context};
use clap::Parser;
use report::Row;
use scenarios::{Run, Sizes};
use std::time::Duration;

const SCENARIOS: &[&str] = &[
    "locations-single",
    "locations-batch",
    "package-flow",
    "reads",
    "broadcast",
    "drain",
    "signing",
    "couriers",
    "geofences",
    "webhooks",
];

/// Scenarios that only run when named (`hostile` reads ingest's memory from
/// /proc, so ingest must run on this machine; `scale` fills the stores for
/// good).
const NAMED_ONLY: &[&str] = &["hostile", "scale"];

/// Measures a running DeliverTrack path by path, each against the raw speed
/// of the dependency beneath it, measured in the same run.
#[derive(Parser)]
#[command(name = "dt-bench", version)]
struct Args {
    /// What to run: all, baselines, locations-single, locations-batch,
    /// package-flow, reads, broadcast, drain, signing, couriers, geofences, webhooks, hostile
    /// (named only), scale (named only: fills the stores for good),
    /// eta-replay (named alone; offline, no services).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(
        ["all", "baselines", "locations-single", "locations-batch", "package-flow",
         "reads", "broadcast", "drain", "signing", "couriers", "geofences", "webhooks", "hostile",
         "scale", "eta-replay"]))]
    scenarios: Vec<String>,
    /// Small sizes; any failed request fails the run (the test suite's run).
    #[arg(long)]
    smoke: bool,
    /// Rows as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Skip the baselines (to profile one scenario; no ratios then).
    #[arg(long)]
    no_baselines: bool,
    /// Seconds each closed-loop load lasts.
    #[arg(long)]
    duration: Option<f64>,
    /// HTTP connections of a load.
    #[arg(long)]
    connections: Option<usize>,
    /// Seconds of the steady single-point load of `drain`.
    #[arg(long)]
    sustained: Option<f64>,
    /// WebSocket connections of `broadcast`.
    #[arg(long)]
    ws_connections: Option<usize>,
    /// Subscriptions of `broadcast`, over its connections.
    #[arg(long)]
    subscriptions: Option<usize>,
    /// Packages the subscriptions of `broadcast` watch.
    #[arg(long)]
    watched_packages: Option<usize>,
    /// Posts per second during `broadcast`.
    #[arg(long)]
    broadcast_rate: Option<f64>,
    /// Watchers of the one hot package of `broadcast`.
    #[arg(long)]
    hot_watchers: Option<usize>,
    /// The API's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/api/v1")]
    api: String,
    /// The broadcaster's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8081/ws")]
    ws: String,
    /// An admin's access token (else DT_BENCH_TOKEN, else a sign-in with
    /// BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD).
    #[arg(long)]
    token: Option<String>,
    /// Whose memory `hostile` watches (else the one process named ingest).
    #[arg(long)]
    ingest_pid: Option<u32>,
    /// Where the broadcast latency chart goes.
    #[arg(long)]
    chart: Option<String>,
    /// Package counts `scale` fills to and measures at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000,10000000")]
    scale_sizes: Vec<u64>,
    /// At most this many history points `scale` puts in MongoDB (five per
    /// package up to it: the stand-in slows as its collections grow).
    #[arg(long, default_value_t = 1_000_000)]
    scale_history: u64,
    /// At most this many latest positions `scale` puts in MongoDB.
    #[arg(long, default_value_t = 100_000)]
    scale_latest: u64,
    /// Where `scale` writes its two charts.
    #[arg(long, default_value = "docs/bench")]
    scale_charts: String,
}

impl Args {
    /// The run's sizes: the smoke or full ones, with the flags' overrides.
    fn sizes(&self) -> Sizes {
        let mut sizes = if self.smoke {
            Sizes::smoke()
        } else {
            Sizes::full()
        };
        let secs = Duration::from_secs_f64;
        if let Some(s) = self.duration {
            sizes.duration = secs(s)
        }
        if let Some(n) = self.connections {
            sizes.connections = n
        }
        if let Some(s) = self.sustained {
            sizes.sustained_for = secs(s)
        }
        if let Some(n) = self.ws_connections {
            sizes.ws_connections = n
        }
        if let Some(n) = self.subscriptions {
            sizes.subscriptions = n
        }
        if let Some(n) = self.watched_packages {
            sizes.watched_packages = n
        }
        if let Some(r) = self.broadcast_rate {
            sizes.broadcast_rate = r
        }
        if let Some(n) = self.hot_watchers {
            sizes.hot_watchers = n
        }
        if let Some(chart) = &self.chart {
            sizes.chart = chart.clone()
        }
        sizes
    }

    /// What `scale` fills and where its charts go.
    fn scale(&self) -> anyhow::Result<scenarios::scale::Scale> {
        let mut sizes = self.scale_sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.first() == Some(&0) || sizes.is_empty() {
            bail!("--scale-sizes: package counts above 0, comma-separated");
        }
        Ok(scenarios::scale::Scale {
            sizes,
            history_cap: self.scale_history,
            latest_cap: self.scale_latest,
            chart_dir: self.scale_charts.clone(),
        })
    }

    /// The scenarios to run, in order (`all` is every one but the named-only).
    fn scenarios(&self) -> Vec<&str> {
        let mut chosen = Vec::new();
        for name in &self.scenarios {
            match name.as_str() {
                "all" => chosen.extend(SCENARIOS),
                "baselines" => {}
                name if SCENARIOS.contains(&name) || NAMED_ONLY.contains(&name) => {
                    chosen.push(name)
                }
                _ => {}
            }
        }
        chosen
    }
}

/// The ETA replay's table: errors at each horizon, ours beside the naive
/// baseline's (docs/PERFORMANCE.md, "Arrival estimates").
fn eta_replay(args: &Args) -> anyhow::Result<()> {
    use bench::replay::{Errors, Replay, HORIZONS_MIN};
    if args.scenarios.len() > 1 {
        bail!("eta-replay runs alone (it needs no services)");
    }
    let replay = if args.smoke {
        Replay {
            runs: 30,
            stops: 12,
            warm_up: 5,
            seed: 11,
        }
    } else {
        Replay {
            runs: 400,
            stops: 15,
            warm_up: 20,
            seed: 2026,
        }
    };
    let errors = bench::replay::run(&replay);
    println!(
        "ETA replay: {} runs of {} stops ({} warm-up), errors in minutes",
        replay.runs, replay.stops, replay.warm_up
    );
    println!(
        "| before arrival | stops | estimate median | estimate p90 | naive median | naive p90 | in-order median | in-order p90 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (minutes, e) in HORIZONS_MIN.iter().zip(&errors) {
        let m = |values: &[f64], q: f64| Errors::quantile(values, q) / 60.0;
        println!(
            "| {minutes} min | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            e.estimate.len(),
            m(&e.estimate, 0.5),
            m(&e.estimate, 0.9),
            m(&e.naive, 0.5),
            m(&e.naive, 0.9),
            m(&e.in_order, 0.5),
            m(&e.in_order, 0.9)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // One line, whatever the log format: what an operator reads first.
        Err(error) => shared::help::fail("dt-bench", &format!("{error:#}")),
    }
}

async fn run() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some(baselines::SERVE_202) {
        return baselines::serve_202().await;
    }
    let args = Args::try_parse().unwrap_or_else(|error| shared::help::refuse(error, "dt-bench"));
    if args.scenarios.iter().any(|s| s == "eta-replay") {
        return eta_replay(&args);
    }
    let sizes = args.sizes();
    let token = sign_in::token(args.token.clone(), &args.api).await?;
    let system = system::System::connect(&args.api, &args.ws, token.clone())
        .await
        .context("connecting to the system's stores (the services' environment variables)")?;
    let baseline_time = (sizes.duration / 2).max(Duration::from_secs(1));
    let (baselines, mut rows) = if args.no_baselines {
        (baselines::Baselines::default(), Vec::new())
    } else {
        baselines::measure(&system, baseline_time, sizes.connections).await?
    };
    let run = Run {
        system: &system,
        baselines: &baselines,
        sizes: &sizes,
        id: uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase(),
    };
    for scenario in args.scenarios() {
        let measured = match scenario {
            "locations-single" => scenarios::locations::single(&run).await,
            "locations-batch" => scenarios::locations::batch(&run).await,
            "package-flow" => scenarios::package_flow::run(&run).await,
            "reads" => scenarios::reads::run(&run).await,
            "broadcast" => scenarios::broadcast::run(&run).await,
            "drain" => scenarios::drain::run(&run).await,
            "hostile" => scenarios::hostile::run(&run, args.ingest_pid).await,
            "signing" => scenarios::signing::run(),
            "couriers" => scenarios::couriers::run(&run).await,
            "geofences" => scenarios::geofences::run(&run).await,
            "webhooks" => scenarios::webhooks::run(&run).await,
            "scale" => scenarios::scale::run(&run, &args.scale()?).await,
            _ => continue,
        };
        rows.extend(measured.with_context(|| format!("scenario {scenario}"))?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", report::table(&rows));
    }
    verdict(&rows, args.smoke)
}

/// Losses fail the run; targets are reported, not enforced. A smoke run
/// proves the benchmark works: a load that got nothing through, or had
/// unexpected answers, fails it.
fn verdict(rows: &[Row], smoke: bool) -> anyhow::Result<()> {
    let lost = rows
        .iter()
        .filter(|r| {
            r.measure.starts_with("accepted")
                || r.measure.starts_with("missing")
                || r.measure.starts_with("duplicated")
        })
        .any(|r| r.met() == Some(false));
    if lost {
        bail!("something accepted was lost or duplicated, or nothing was accepted (see the table)");
    }
    let suspect: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let requests = r.requests?;
            requests.suspect().then(|| {
                format!(
                    "{} / {}: {} ok, {} failed {}",
                    r.scenario, r.measure, requests.ok, requests.failed, r.note
                )
            })
        })
        .collect();
    if smoke && !suspect.is_empty() {
        bail!(
            "the smoke run's loads did not all succeed:\n{}",
            suspect.join("\n")
        );
    }
    Ok(())
}
