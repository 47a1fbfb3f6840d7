//! `package-flow`: each connection's own package, created, then moved through
//! status checkpoints, each answered with the worker's outcome (200).

use super::locations::failures;
use super::Run;
use crate::load::Request;
use crate::report::{Row, Target};
use hyper::Method;
use serde_json::json;
use std::sync::Arc;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let name = "package-flow";
    let numbers = Arc::new(run.seed("PF", run.sizes.connections).await?);
    let paths: Vec<String> = run.system.package_paths(&numbers, "/status");
    let result = run
        .load(name)
        .run(move |connection, i| {
            let update = json!({"status": "in_transit", "location": format!("hub {i}")});
            Request::json(Method::PUT, paths[connection].clone(), &update)
        })
        .await;
    let applied = result.ok + numbers.len() as u64; // the updates and the creations
    Ok(vec![
        Row::new(
            name,
            "status updates, synchronous outcome",
            result.per_second(1.0),
            "update/s",
        )
        .latency(&result.latency)
        .answers(&result)
        .target(Target::AtLeast(3000.0))
        .note(failures(&result)),
        Row::p99(name, &result.latency, 50.0),
        run.loss_check(name, "status events", applied, || {
            run.system.stored_status_events(&numbers)
        })
        .await,
    ])
}
