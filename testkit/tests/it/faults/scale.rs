//! The scaling scenario: package-worker replicas go 1 → 2 → 4 → 2 (and back
//! to 1 as the repair) while the load goes on. After each change, within
//! [`CONVERGE`]: `/api/v1/stats` lists exactly the replicas running, every
//! shard is held by one of them, their shares differ by one at most, and
//! the broker's active consumer on each shard queue is the replica said to
//! hold it. The scenario's usual checks (nothing lost or doubled, every
//! watcher's events in order) cover the hand-overs.

use super::System;
use serde_json::Value;
use shared::auth::Role;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::services::Process;
use testkit::TestEnv;

/// How long a change may take to settle (the promise).
const CONVERGE: Duration = Duration::from_secs(10);
/// How long the load runs on each settled share before the next change.
const HOLD: Duration = Duration::from_secs(3);

/// The replica counts, after the one the system starts with.
const STEPS: [usize; 3] = [2, 4, 2];

/// Runs the steps; returns the extra replicas still running and what went
/// wrong.
pub(super) async fn scale(env: &TestEnv, system: &System) -> (Vec<Process>, Vec<String>) {
    let token = env.token(&env.account(Role::Admin).await);
    let http = testkit::app::client_with_token(&token);
    let mut extra_env = system.env.clone();
    extra_env.push(("WORKER_POOLS".into(), "packages".into()));
    let (mut extra, mut problems) = (Vec::new(), Vec::new());
    for replicas in STEPS {
        while 1 + extra.len() < replicas {
            extra.push(Process::start("workers", &extra_env, false));
        }
        while 1 + extra.len() > replicas {
            let stopping: Process = extra.pop().expect("an extra replica");
            let code = tokio::task::spawn_blocking(move || stopping.terminate())
                .await
                .expect("the stopping thread");
            if code != Some(0) {
                problems.push(format!("a replica exited with {code:?} on SIGTERM"));
            }
        }
        if let Err(why) = converged(env, system, &http, replicas).await {
            problems.push(format!("{replicas} replicas: {why}"));
        }
        tokio::time::sleep(HOLD).await;
    }
    (extra, problems)
}

/// Stops the extra replicas (the system is back to one); what went wrong.
pub(super) async fn scale_back(env: &TestEnv, system: &System, extra: Vec<Process>) -> Vec<String> {
    let mut problems = Vec::new();
    for replica in extra {
        let code = tokio::task::spawn_blocking(move || replica.terminate())
            .await
            .expect("the stopping thread");
        if code != Some(0) {
            problems.push(format!("a replica exited with {code:?} on SIGTERM"));
        }
    }
    let token = env.token(&env.account(Role::Admin).await);
    let http = testkit::app::client_with_token(&token);
    if let Err(why) = converged(env, system, &http, 1).await {
        problems.push(format!("back to 1 replica: {why}"));
    }
    problems
}

/// Waits up to [`CONVERGE`] for the shares to settle on `replicas`.
async fn converged(
    env: &TestEnv,
    system: &System,
    http: &reqwest::Client,
    replicas: usize,
) -> Result<(), String> {
    let started = Instant::now();
    let mut why = String::from("never asked");
    while started.elapsed() < CONVERGE {
        match shares(system, http).await {
            Ok(shares) => match balanced(&shares, replicas, env.topology().package_shards()) {
                Ok(()) => match broker_agrees(env, &shares).await {
                    Ok(()) => {
                        eprintln!("{replicas} replicas settled in {:?}", started.elapsed());
                        return Ok(());
                    }
                    Err(problem) => why = problem,
                },
                Err(problem) => why = problem,
            },
            Err(problem) => why = problem,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(format!("not settled after {CONVERGE:?}: {why}"))
}

/// Each live replica's shards, from `/api/v1/stats`.
async fn shares(
    system: &System,
    http: &reqwest::Client,
) -> Result<BTreeMap<String, Vec<u16>>, String> {
    let response = http
        .get(format!("{}/stats", system.api()))
        .send()
        .await
        .map_err(|e| format!("stats: {e}"))?;
    let stats: Value = response.json().await.map_err(|e| format!("stats: {e}"))?;
    let members = stats["package_workers"]
        .as_array()
        .ok_or_else(|| format!("stats without package_workers: {stats}"))?;
    Ok(members
        .iter()
        .map(|m| {
            let id = m["member_id"].as_str().unwrap_or_default().to_owned();
            let held = m["held_shards"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|n| n.as_u64())
                        .map(|n| n as u16)
                        .collect()
                })
                .unwrap_or_default();
            (id, held)
        })
        .collect())
}

/// Every shard held once, by `replicas` members whose shares differ by one
/// at most.
fn balanced(
    shares: &BTreeMap<String, Vec<u16>>,
    replicas: usize,
    shards: u16,
) -> Result<(), String> {
    if shares.len() != replicas {
        return Err(format!("{} replicas listed: {shares:?}", shares.len()));
    }
    let mut held: Vec<u16> = shares.values().flatten().copied().collect();
    held.sort_unstable();
    if held != (0..shards).collect::<Vec<_>>() {
        return Err(format!("shards not held exactly once: {shares:?}"));
    }
    let sizes: Vec<usize> = shares.values().map(Vec::len).collect();
    let (min, max) = (sizes.iter().min(), sizes.iter().max());
    match (min, max) {
        (Some(min), Some(max)) if max - min <= 1 => Ok(()),
        _ => Err(format!("unbalanced: {shares:?}")),
    }
}

/// The broker's active consumer on each shard queue carries the tag of the
/// replica said to hold the shard (`<member>.shard<N>`).
async fn broker_agrees(env: &TestEnv, shares: &BTreeMap<String, Vec<u16>>) -> Result<(), String> {
    let active = tokio::task::spawn_blocking(testkit::services::active_consumers)
        .await
        .map_err(|e| e.to_string())??;
    for (member, held) in shares {
        for shard in held {
            let queue = env.topology().package_queue(*shard);
            let tags = active.get(&queue).cloned().unwrap_or_default();
            if tags != [format!("{member}.shard{shard}")] {
                return Err(format!("{queue}: active {tags:?}, expected {member}"));
            }
        }
    }
    Ok(())
}
