//! Device posts: one point per request (`locations-single`, judged against
//! the raw publish-with-confirm rate: group commit makes more points per
//! second than messages possible), and 100-point batches in JSON and
//! MessagePack (`locations-batch`).

use super::Run;
use crate::load::{self, Limit, Pace, Request};
use crate::report::{Row, Target};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const PACKAGES: usize = 50;
const BATCH: usize = 100;

pub async fn single(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let name = "locations-single";
    let numbers = Arc::new(run.seed("LS", PACKAGES).await?);
    let paths: Vec<String> = run.system.package_paths(&numbers, "/locations");
    let result = load::run(
        name,
        run.system.addr,
        &run.system.host,
        run.sizes.connections,
        Limit::lasting(run.sizes.duration),
        Pace::Closed,
        move |_, i| {
            let point = json!({"id": format!("s{i}"), "latitude": 40.0 + (i % 1000) as f64 / 1e4, "longitude": -74.0});
            Request::json(Method::POST, paths[i as usize % paths.len()].clone(), &point)
        },
        |status| status == StatusCode::ACCEPTED,
    )
    .await;
    let accepted = result.ok;
    let mut rows = vec![
        Row::new(name, "points accepted", result.per_second(1.0), "point/s")
            .latency(&result.latency)
            .answers(&result)
            .baseline("publish-with-confirm", run.baselines.publish_confirm_msgs)
            .target(Target::RatioAtLeast(1.0))
            .note(failures(&result)),
        Row::p99(name, &result.latency, 20.0),
    ];
    rows.push(
        run.loss_check(name, "points", accepted, || {
            run.system.stored_points(&numbers, accepted)
        })
        .await,
    );
    Ok(rows)
}

/// Batches are accepted many times faster than the stores take them: a short
/// load (at most this many batches) measures acceptance and keeps the drain
/// after it, and the data left in the stores, bounded.
const BATCH_LOAD_MAX: std::time::Duration = std::time::Duration::from_secs(3);
const BATCHES_MAX: u64 = 3000;

pub async fn batch(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (format, content_type) in [
        ("json", "application/json"),
        ("msgpack", "application/msgpack"),
    ] {
        let name = format!("locations-batch ({format})");
        let numbers = Arc::new(
            run.seed(if format == "json" { "LBJ" } else { "LBM" }, PACKAGES)
                .await?,
        );
        let path = run.system.path("/locations");
        let make_numbers = Arc::clone(&numbers);
        let result = load::run(
            &name,
            run.system.addr,
            &run.system.host,
            run.sizes.connections,
            Limit { duration: run.sizes.duration.min(BATCH_LOAD_MAX), max_requests: BATCHES_MAX },
            Pace::Closed,
            move |_, i| {
                let tn = &make_numbers[i as usize % make_numbers.len()];
                let points: Vec<Value> = (0..BATCH)
                    .map(|p| json!({"tracking_number": tn, "id": format!("b{i}-{p}"), "latitude": 40.0 + p as f64 / 1e4, "longitude": -74.0}))
                    .collect();
                let body = if content_type == "application/json" {
                    serde_json::to_vec(&points).unwrap_or_default()
                } else {
                    rmp_serde::to_vec_named(&points).unwrap_or_default()
                };
                Request {
                    method: Method::POST,
                    path: path.clone(),
                    content_type,
                    headers: Vec::new(),
                    body: Bytes::from(body),
                }
            },
            |status| status == StatusCode::ACCEPTED,
        )
        .await;
        rows.push(
            Row::new(
                &name,
                "points accepted",
                result.per_second(BATCH as f64),
                "point/s",
            )
            .latency(&result.latency)
            .answers(&result)
            .target(Target::AtLeast(200_000.0))
            .note(failures(&result)),
        );
        let accepted = result.ok * BATCH as u64;
        rows.push(
            run.loss_check(&name, "points", accepted, || {
                run.system.stored_points(&numbers, accepted)
            })
            .await,
        );
    }
    Ok(rows)
}

pub fn failures(result: &load::LoadResult) -> String {
    match (&result.first_failure, result.failed) {
        (Some(first), failed) if failed > 0 => format!(
            "{failed} failed, first: {}",
            first.chars().take(80).collect::<String>()
        ),
        _ => String::new(),
    }
}
