//! `reads`: `GET /packages/{tn}` over a hot set (served from the Redis view),
//! judged against a hyper server answering 202; and cold reads (each package
//! read once: PostgreSQL, then the view is filled).

use super::locations::failures;
use super::Run;
use crate::load::Request;
use crate::report::{Row, Target};
use std::sync::Arc;

const HOT: usize = 100;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let mut rows = hot(run).await?;
    rows.push(cold(run).await?);
    Ok(rows)
}

/// Cached reads over a hot set, against a hyper server answering 202.
async fn hot(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let hot = run.seed("RH", HOT).await?;
    let paths: Arc<Vec<String>> = Arc::new(run.system.package_paths(&hot, ""));
    // One read each fills the views.
    let warm = Arc::clone(&paths);
    run.load("reads: warming")
        .connections(4)
        .at_most(HOT as u64, run.sizes.duration * 10)
        .run(move |_, i| Request::get(warm[i as usize].clone()))
        .await;
    let result = run
        .load("reads (hot)")
        .run(move |_, i| Request::get(paths[i as usize % paths.len()].clone()))
        .await;
    Ok(vec![
        Row::new("reads (hot)", "cached GET", result.per_second(1.0), "req/s")
            .latency(&result.latency)
            .answers(&result)
            .baseline("hyper 202", run.baselines.hyper_202_reqs)
            .target(Target::RatioAtLeast(0.6))
            .note(failures(&result)),
        Row::p99("reads (hot)", &result.latency, 5.0),
    ])
}

/// Each package read once: PostgreSQL, then the view is filled.
async fn cold(run: &Run<'_>) -> anyhow::Result<Row> {
    let cold_count = (run.sizes.connections * 20).max(HOT);
    let cold = run.seed("RC", cold_count).await?;
    let cold_paths: Vec<String> = run.system.package_paths(&cold, "");
    let result = run
        .load("reads (cold)")
        .at_most(cold_count as u64, run.sizes.duration * 10)
        .run(move |_, i| Request::get(cold_paths[i as usize].clone()))
        .await;
    Ok(Row::new(
        "reads (cold)",
        "first GET of each package",
        result.per_second(1.0),
        "req/s",
    )
    .latency(&result.latency)
    .answers(&result)
    .note(failures(&result)))
}
