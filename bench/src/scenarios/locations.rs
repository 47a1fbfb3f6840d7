//! Device posts: one point per request (`locations-single`, judged against
//! the raw publish-with-confirm rate: group commit makes more points per
//! second than messages possible), and 100-point batches in JSON and
//! MessagePack (`locations-batch`).

use super::Run;
use crate::load::{self, Request};
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
    let result = run
        .load(name)
        .expecting(StatusCode::ACCEPTED)
        .run(move |_, i| {
            let point = json!({"id": format!("s{i}"), "latitude": 40.0 + (i % 1000) as f64 / 1e4, "longitude": -74.0});
            Request::json(Method::POST, paths[i as usize % paths.len()].clone(), &point)
        })
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
    let mut rows = batches(run, "json", "application/json").await?;
    rows.extend(batches(run, "msgpack", "application/msgpack").await?);
    Ok(rows)
}

/// 100-point batches in one format.
async fn batches(
    run: &Run<'_>,
    format: &str,
    content_type: &'static str,
) -> anyhow::Result<Vec<Row>> {
    let name = format!("locations-batch ({format})");
    let scenario = if format == "json" { "LBJ" } else { "LBM" };
    let numbers = Arc::new(run.seed(scenario, PACKAGES).await?);
    let path = run.system.path("/locations");
    let make_numbers = Arc::clone(&numbers);
    let result = run
        .load(&name)
        .at_most(BATCHES_MAX, run.sizes.duration.min(BATCH_LOAD_MAX))
        .expecting(StatusCode::ACCEPTED)
        .run(move |_, i| {
            let tn = &make_numbers[i as usize % make_numbers.len()];
            batch_request(path.clone(), content_type, tn, i)
        })
        .await;
    let accepted = result.ok * BATCH as u64;
    let rate = result.per_second(BATCH as f64);
    Ok(vec![
        Row::new(&name, "points accepted", rate, "point/s")
            .latency(&result.latency)
            .answers(&result)
            .target(Target::AtLeast(200_000.0))
            .note(failures(&result)),
        run.loss_check(&name, "points", accepted, || {
            run.system.stored_points(&numbers, accepted)
        })
        .await,
    ])
}

/// The `i`th batch of [`BATCH`] points for `tn`, in `content_type`.
fn batch_request(path: String, content_type: &'static str, tn: &str, i: u64) -> Request {
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
        path,
        content_type,
        headers: Vec::new(),
        body: Bytes::from(body),
    }
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
