//! `scale`: what the system's reads, flows and periodic jobs cost as the
//! stores grow. The stores are filled to each size straight (PostgreSQL:
//! packages with their creation events; MongoDB: history points and latest
//! positions up to the caps the stand-in allows), then at each size the
//! reads ([`probes`]), the feed's checkpoint, the package flow and the
//! drain run. The figures come as rows (`scale 1M: ...`) and as two charts,
//! size on the x axis ([`chart`]).
//!
//! Named only: it grows the system's stores for good (a later run goes on
//! from what an earlier one filled, [`fill`]).

mod chart;
pub mod fill;
mod probes;

use super::{drain, package_flow, Run, Sizes};
use crate::report::Row;
use std::time::Duration;

/// What `dt-bench scale` fills and where its charts go.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Package counts, ascending.
    pub sizes: Vec<u64>,
    /// At most this many history points (five per package up to it).
    pub history_cap: u64,
    /// At most this many latest positions (one per package up to it).
    pub latest_cap: u64,
    /// Where the two charts go.
    pub chart_dir: String,
}

/// A size as the rows name it: `10k`, `1M`, `10M`.
fn label(size: u64) -> String {
    match size {
        s if s >= 1_000_000 && s % 1_000_000 == 0 => format!("{}M", s / 1_000_000),
        s if s >= 1_000 && s % 1_000 == 0 => format!("{}k", s / 1_000),
        s => s.to_string(),
    }
}

pub async fn run(run: &Run<'_>, scale: &Scale) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for (step, &size) in scale.sizes.iter().enumerate() {
        let name = format!("scale {}", label(size));
        let filled = fill::packages_to(run.system, size).await?;
        let documents = fill::Documents {
            history: (size * 5).min(scale.history_cap),
            latest: size.min(scale.latest_cap),
        };
        let (mongo_filled, held) = fill::documents_to(run.system, documents).await?;
        rows.push(Row::new(&name, "filled", size as f64, "packages").note(format!(
            "PostgreSQL filled in {:.0} s; MongoDB holds {} history points and {} latest positions of the fill (added in {:.0} s)",
            filled.as_secs_f64(),
            held.history,
            held.latest,
            mongo_filled.as_secs_f64()
        )));
        // The fill may outlast the token the run started with.
        let api = format!("http://{}{}", run.system.host, run.system.prefix);
        crate::sign_in::renew(&api).await?;
        let at = at_size(run, &name, (size, held.history / 5), step).await?;
        // Each size's figures as soon as they are known: a run of an hour
        // that fails late keeps the sizes it finished.
        eprintln!("{}", crate::report::table(&at));
        points.push((size, at.clone()));
        rows.extend(at);
    }
    chart::draw(&scale.chart_dir, &points)?;
    Ok(rows)
}

/// Every figure at one size: `packages`, of which the first `with_history`
/// have points.
async fn at_size(
    run: &Run<'_>,
    name: &str,
    (packages, with_history): (u64, u64),
    step: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    // Nothing changed since: what each broadcaster pays every 10 s on a
    // quiet system.
    let quiet = probes::horizon(run).await?;
    let (latency, _) = probes::feed_checkpoint(run, quiet, 50).await?;
    rows.push(
        Row::new(
            name,
            "feed checkpoint, nothing changed",
            ms(&latency),
            "ms p50",
        )
        .latency(&latency),
    );
    for probe in probes::reads(run, packages, with_history).await {
        rows.push(
            Row::new(name, probe.path, ms(&probe.result.latency), "ms p50")
                .latency(&probe.result.latency)
                .answers(&probe.result)
                .note(format!(
                    "{:.0} req/s on one connection",
                    probe.result.per_second(1.0)
                )),
        );
    }
    let before_flows = probes::horizon(run).await?;
    rows.extend(flows(run, name, step).await?);
    // A dashboard back after the flows: what its resume reads.
    let (latency, found) = probes::feed_checkpoint(run, before_flows, 10).await?;
    rows.push(
        Row::new(name, "feed resume after the flows", ms(&latency), "ms p50")
            .latency(&latency)
            .note(format!("{found} packages changed since the cursor")),
    );
    Ok(rows)
}

/// The flows, each a short run of its scenario, under a tag of this size
/// (their packages are new at each size).
async fn flows(run: &Run<'_>, name: &str, step: usize) -> anyhow::Result<Vec<Row>> {
    let sizes = Sizes {
        duration: run.sizes.duration.min(Duration::from_secs(5)),
        drain_backlog: run.sizes.drain_backlog.min(4_000),
        ..run.sizes.clone()
    };
    let sized = Run {
        system: run.system,
        baselines: run.baselines,
        sizes: &sizes,
        id: format!("{}S{step}", run.id),
    };
    let mut rows = package_flow::run(&sized).await?;
    rows.extend(drain::backlog(&sized).await?);
    for row in &mut rows {
        row.scenario = format!("{name}: {}", row.scenario);
    }
    Ok(rows)
}

fn ms(latency: &hdrhistogram::Histogram<u64>) -> f64 {
    latency.value_at_quantile(0.5) as f64 / 1000.0
}
