//! `dt-bench`: measures a running DeliverTrack (`scripts/up.sh`) path by path,
//! each against the raw speed of the dependency beneath it, measured in the
//! same run on the same machine; checks afterwards that nothing accepted was
//! lost; prints a table (or `--json`).
//!
//! ```text
//! dt-bench [all|baselines|locations-single|locations-batch|package-flow|reads|broadcast|drain|hostile|signing]...
//!          [--smoke] [--json] [--no-baselines] [--duration S] [--connections C] [--sustained S]
//!          [--ws-connections N] [--subscriptions N] [--watched-packages N]
//!          [--broadcast-rate R] [--hot-watchers N] [--api URL] [--ws URL] [--chart FILE]
//!          [--token JWT] [--ingest-pid PID]
//! ```
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
mod system;

use anyhow::{bail, Context};
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
];

/// Scenarios that only run when named (`hostile` reads ingest's memory from
/// /proc, so ingest must run on this machine).
const NAMED_ONLY: &[&str] = &["hostile"];

struct Args {
    scenarios: Vec<String>,
    /// `--smoke`: small sizes, and any failed request fails the run.
    smoke: bool,
    /// Skip the baselines (for profiling one scenario; no ratios then).
    no_baselines: bool,
    sizes: Sizes,
    json: bool,
    api: String,
    ws: String,
    /// `--token` or `DT_BENCH_TOKEN`; otherwise dt-bench signs in as the
    /// bootstrap admin (`BOOTSTRAP_ADMIN_EMAIL`, `BOOTSTRAP_ADMIN_PASSWORD`).
    token: Option<String>,
    /// `--ingest-pid`: whose memory `hostile` watches.
    ingest_pid: Option<u32>,
}

fn parse_args() -> anyhow::Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let smoke = raw.iter().any(|a| a == "--smoke");
    let mut args = Args {
        scenarios: Vec::new(),
        smoke,
        no_baselines: false,
        sizes: if smoke { Sizes::smoke() } else { Sizes::full() },
        json: false,
        api: "http://127.0.0.1:8080/api/v1".into(),
        ws: "ws://127.0.0.1:8081/ws".into(),
        token: std::env::var("DT_BENCH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        ingest_pid: None,
    };
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--smoke" => {}
            "--json" => args.json = true,
            "--no-baselines" => args.no_baselines = true,
            "--duration" => {
                args.sizes.duration = Duration::from_secs_f64(value("--duration")?.parse()?)
            }
            "--connections" => args.sizes.connections = value("--connections")?.parse()?,
            "--sustained" => {
                args.sizes.sustained_for = Duration::from_secs_f64(value("--sustained")?.parse()?)
            }
            "--ws-connections" => args.sizes.ws_connections = value("--ws-connections")?.parse()?,
            "--subscriptions" => args.sizes.subscriptions = value("--subscriptions")?.parse()?,
            "--watched-packages" => {
                args.sizes.watched_packages = value("--watched-packages")?.parse()?
            }
            "--broadcast-rate" => args.sizes.broadcast_rate = value("--broadcast-rate")?.parse()?,
            "--hot-watchers" => args.sizes.hot_watchers = value("--hot-watchers")?.parse()?,
            "--api" => args.api = value("--api")?,
            "--ws" => args.ws = value("--ws")?,
            "--token" => args.token = Some(value("--token")?),
            "--ingest-pid" => args.ingest_pid = Some(value("--ingest-pid")?.parse()?),
            "--chart" => args.sizes.chart = value("--chart")?,
            "all" => args
                .scenarios
                .extend(SCENARIOS.iter().map(|s| (*s).to_owned())),
            "baselines" => {}
            name if SCENARIOS.contains(&name) || NAMED_ONLY.contains(&name) => {
                args.scenarios.push(name.to_owned())
            }
            other => bail!(
                "unknown argument {other:?}; scenarios: all, baselines, {}, {}",
                SCENARIOS.join(", "),
                NAMED_ONLY.join(", ")
            ),
        }
    }
    Ok(args)
}

/// A token for the bootstrap admin, or `None` when the system runs with
/// authentication disabled.
async fn sign_in(api: &str) -> anyhow::Result<Option<String>> {
    let (Ok(email), Ok(password)) = (
        std::env::var("BOOTSTRAP_ADMIN_EMAIL"),
        std::env::var("BOOTSTRAP_ADMIN_PASSWORD"),
    ) else {
        bail!("dt-bench needs an admin's token: pass --token, or set DT_BENCH_TOKEN, or BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD (scripts/up.sh prints them)");
    };
    let (addr, host, prefix) = load::address_of(api)?;
    let request = load::Request::json(
        hyper::Method::POST,
        format!("{prefix}/auth/login"),
        &serde_json::json!({ "email": email, "password": password }),
    );
    let (status, body) = load::once(addr, &host, request)
        .await
        .context("signing in")?;
    match status.as_u16() {
        200 => {
            let body: serde_json::Value = serde_json::from_slice(&body)?;
            let token = body["access_token"]
                .as_str()
                .context("no access_token in the answer")?;
            Ok(Some(token.to_owned()))
        }
        // Authentication is disabled: no token needed.
        409 => Ok(None),
        other => bail!(
            "signing in as {email} failed: {other} {}",
            String::from_utf8_lossy(&body)
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some(baselines::SERVE_202) {
        return baselines::serve_202().await;
    }
    let mut args = parse_args()?;
    let token = match args.token.take() {
        Some(token) => Some(token),
        None => sign_in(&args.api).await?,
    };
    if let Some(token) = &token {
        load::authenticate_as(token)?;
    }
    let system = system::System::connect(&args.api, &args.ws, token.clone())
        .await
        .context("connecting to the system's stores (the services' environment variables)")?;
    let baseline_time = (args.sizes.duration / 2).max(Duration::from_secs(1));
    let (baselines, mut rows) = if args.no_baselines {
        (baselines::Baselines::default(), Vec::new())
    } else {
        baselines::measure(&system, baseline_time, args.sizes.connections).await?
    };
    let run = Run {
        system: &system,
        baselines: &baselines,
        sizes: &args.sizes,
        id: uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase(),
    };
    for scenario in &args.scenarios {
        let measured = match scenario.as_str() {
            "locations-single" => scenarios::locations::single(&run).await,
            "locations-batch" => scenarios::locations::batch(&run).await,
            "package-flow" => scenarios::package_flow::run(&run).await,
            "reads" => scenarios::reads::run(&run).await,
            "broadcast" => scenarios::broadcast::run(&run).await,
            "drain" => scenarios::drain::run(&run).await,
            "hostile" => scenarios::hostile::run(&run, args.ingest_pid).await,
            "signing" => scenarios::signing::run(),
            _ => continue,
        };
        rows.extend(measured.with_context(|| format!("scenario {scenario}"))?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", report::table(&rows));
    }
    // Losses fail the run; targets are reported, not enforced.
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
    // A smoke run proves the benchmark works: a load that got nothing
    // through, or had unexpected answers, fails it.
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
    if args.smoke && !suspect.is_empty() {
        bail!(
            "the smoke run's loads did not all succeed:\n{}",
            suspect.join("\n")
        );
    }
    Ok(())
}
