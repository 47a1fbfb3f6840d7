//! `reads`: `GET /packages/{tn}` over a hot set (served from the Redis view),
//! judged against a hyper server answering 202; and cold reads (each package
//! read once: PostgreSQL, then the view is filled).

use super::locations::failures;
use super::Run;
use crate::load::{self, Limit, Pace, Request};
use crate::report::{Row, Target};
use hyper::StatusCode;
use std::sync::Arc;

const HOT: usize = 100;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let hot = run.seed("RH", HOT).await?;
    let paths: Arc<Vec<String>> = Arc::new(run.system.package_paths(&hot, ""));
    // One read each fills the views.
    let warm = Arc::clone(&paths);
    load::run(
        "reads: warming",
        run.system.addr,
        &run.system.host,
        4,
        Limit {
            duration: run.sizes.duration * 10,
            max_requests: HOT as u64,
        },
        Pace::Closed,
        move |_, i| Request::get(warm[i as usize].clone()),
        |status| status == StatusCode::OK,
    )
    .await;
    let hot_paths = Arc::clone(&paths);
    let result = load::run(
        "reads (hot)",
        run.system.addr,
        &run.system.host,
        run.sizes.connections,
        Limit::lasting(run.sizes.duration),
        Pace::Closed,
        move |_, i| Request::get(hot_paths[i as usize % hot_paths.len()].clone()),
        |status| status == StatusCode::OK,
    )
    .await;
    let mut rows = vec![
        Row::new("reads (hot)", "cached GET", result.per_second(1.0), "req/s")
            .latency(&result.latency)
            .answers(&result)
            .baseline("hyper 202", run.baselines.hyper_202_reqs)
            .target(Target::RatioAtLeast(0.6))
            .note(failures(&result)),
        Row::p99("reads (hot)", &result.latency, 5.0),
    ];
    let cold_count = (run.sizes.connections * 20).max(HOT);
    let cold = Arc::new(run.seed("RC", cold_count).await?);
    let cold_paths: Vec<String> = run.system.package_paths(&cold, "");
    let result = load::run(
        "reads (cold)",
        run.system.addr,
        &run.system.host,
        run.sizes.connections,
        Limit {
            duration: run.sizes.duration * 10,
            max_requests: cold_count as u64,
        },
        Pace::Closed,
        move |_, i| Request::get(cold_paths[i as usize].clone()),
        |status| status == StatusCode::OK,
    )
    .await;
    rows.push(
        Row::new(
            "reads (cold)",
            "first GET of each package",
            result.per_second(1.0),
            "req/s",
        )
        .latency(&result.latency)
        .answers(&result)
        .note(failures(&result)),
    );
    Ok(rows)
}
