//! `dt-bench`: drives a running ingest over HTTP and reports throughput and
//! latency percentiles. Bounded in requests and time; loopback only by default.
//!
//! ```text
//! dt-bench [create-async|create|read] [--requests N] [--concurrency C] [--base URL]
//! ```
//! - `create-async`: `POST /packages` with `Prefer: respond-async` — the ingest's
//!   validate + confirmed-publish path (202).
//! - `create`: `POST /packages` waiting for the worker's outcome (201) — the full
//!   pipeline round trip.
//! - `read`: `GET /packages/{tn}` on packages created first — the Redis view (HIT).
//! - `locations`: `POST /locations` with batches of 100 points for packages
//!   created first — the device ingest path (202); points/s = 100 × req/s.

use anyhow::{bail, Context};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    mode: String,
    requests: usize,
    concurrency: usize,
    base: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        mode: "create-async".into(),
        requests: 20_000,
        concurrency: 64,
        base: "http://127.0.0.1:8080/api/v1".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--requests" => args.requests = it.next().context("--requests N")?.parse()?,
            "--concurrency" => args.concurrency = it.next().context("--concurrency C")?.parse()?,
            "--base" => args.base = it.next().context("--base URL")?,
            "create-async" | "create" | "read" | "locations" => args.mode = arg,
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(args)
}

fn package(tn: &str) -> serde_json::Value {
    serde_json::json!({
        "tracking_number": tn, "sender_name": "Bench Sender", "sender_address": "1 Main St",
        "recipient_name": "Bench Recipient", "recipient_address": "2 High St", "weight": 1.5
    })
}

fn tracking_number(run: &str, i: usize) -> String {
    format!("B{run}{i:08}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    if args.mode == "read" || args.mode == "locations" {
        let seeded = args.concurrency.min(args.requests).max(1);
        for i in 0..seeded {
            let response = client
                .post(format!("{}/packages", args.base))
                .json(&package(&tracking_number(&run, i)))
                .send()
                .await?;
            if response.status() != 201 {
                bail!("seeding failed: {}", response.status());
            }
        }
    }
    let client = Arc::new(client);
    let args = Arc::new(args);
    let run = Arc::new(run);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, args, run, next) = (client.clone(), args.clone(), run.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= args.requests {
                    break;
                }
                let t = Instant::now();
                let request = match args.mode.as_str() {
                    "read" => client.get(format!(
                        "{}/packages/{}",
                        args.base,
                        tracking_number(&run, i % args.concurrency)
                    )),
                    "locations" => {
                        let tn = tracking_number(&run, i % args.concurrency);
                        let points: Vec<serde_json::Value> = (0..100)
                            .map(|p| {
                                serde_json::json!({"tracking_number": tn, "latitude": 40.0 + f64::from(p) / 1000.0, "longitude": -74.0})
                            })
                            .collect();
                        client.post(format!("{}/locations", args.base)).json(&points)
                    }
                    mode => {
                        let r = client
                            .post(format!("{}/packages", args.base))
                            .json(&package(&tracking_number(&run, i)));
                        if mode == "create-async" {
                            r.header("prefer", "respond-async")
                        } else {
                            r
                        }
                    }
                };
                let ok = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.bytes().await.unwrap_or_default();
                        if failures == 0 && status >= 400 {
                            eprintln!("first failure: {status} {}", String::from_utf8_lossy(&body));
                        }
                        matches!(
                            (args.mode.as_str(), status),
                            ("create-async" | "locations", 202) | ("create", 201) | ("read", 200)
                        )
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed())
                } else {
                    failures += 1
                }
            }
            (latencies, failures)
        });
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(args.requests);
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        let (l, f) = joined?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "mode={} requests={} concurrency={} ok={} failed={} elapsed={:.2}s throughput={:.0} req/s p50={:.2}ms p99={:.2}ms max={:.2}ms",
        args.mode,
        args.requests,
        args.concurrency,
        latencies.len(),
        failures,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
