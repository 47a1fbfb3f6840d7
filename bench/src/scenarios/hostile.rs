//! `hostile`: what worst-case bodies cost ingest. For each format, 100
//! concurrent bodies built to be as expensive as possible to decode (a
//! megabyte of empty points, deep nesting, a small body of tiny values),
//! while ingest's resident memory is sampled every 5 ms (from /proc: ingest
//! must run on this machine; `--ingest-pid`, or the one process named
//! `ingest`). Each must be refused (4xx), and the peak stay under 200 MiB.

use crate::load::{self, Request};
use crate::report::{Row, Target};
use crate::scenarios::Run;
use bytes::Bytes;
use hyper::Method;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONCURRENT: usize = 100;
const MIB: f64 = 1024.0 * 1024.0;

/// The resident set of `pid` in bytes, from /proc.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The one process named `ingest` on this machine.
pub fn find_ingest() -> Option<u32> {
    let mut found = std::fs::read_dir("/proc").ok()?.filter_map(|entry| {
        let entry = entry.ok()?;
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == "ingest").then_some(pid)
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The bodies: (name, path, content type, bytes).
fn bodies(run: &Run<'_>, batch_max: usize) -> Vec<(&'static str, String, &'static str, Bytes)> {
    let mut msgpack = vec![0xdd];
    msgpack.extend_from_slice(&((batch_max - 5) as u32).to_be_bytes());
    msgpack.resize(batch_max, 0x80);
    let maps = batch_max / 3;
    let json = format!("[{}]", vec!["{}"; maps - 1].join(","));
    let ndjson = vec!["{}"; maps].join("\n");
    // One point whose only field is a megabyte of nesting.
    let depth = (batch_max - 32) / 2;
    let nested = format!("[{{\"junk\":{}{}}}]", "[".repeat(depth), "]".repeat(depth));
    // A small body (MAX_BODY_BYTES, 64 KiB) of tiny values: what a generic
    // parser would build thirty times over.
    let tiny = format!("{{\"stops\":[{}]}}", vec!["[]"; 21_000].join(","));
    let batch = run.system.path("/locations");
    vec![
        (
            "msgpack, empty maps",
            batch.clone(),
            "application/msgpack",
            Bytes::from(msgpack),
        ),
        (
            "json, empty objects",
            batch.clone(),
            "application/json",
            Bytes::from(json),
        ),
        (
            "ndjson, empty objects",
            batch.clone(),
            "application/x-ndjson",
            Bytes::from(ndjson),
        ),
        (
            "json, deep nesting",
            batch,
            "application/json",
            Bytes::from(nested),
        ),
        (
            "json body, tiny values",
            run.system.path("/deliveries"),
            "application/json",
            Bytes::from(tiny),
        ),
    ]
}

pub async fn run(run: &Run<'_>, ingest_pid: Option<u32>) -> anyhow::Result<Vec<Row>> {
    let Some(pid) = ingest_pid.or_else(find_ingest) else {
        anyhow::bail!("hostile: ingest's pid is needed to read its memory (--ingest-pid; ingest must run on this machine)");
    };
    let before = rss(pid).unwrap_or(0);
    let mut rows = Vec::new();
    for (name, path, content_type, body) in bodies(run, 1 << 20) {
        let request = Request {
            method: Method::POST,
            path,
            content_type,
            headers: Vec::new(),
            body,
        };
        rows.extend(measure(run, pid, before, name, request).await);
    }
    Ok(rows)
}

/// [`CONCURRENT`] copies of `request` at once, while ingest's memory is
/// sampled: its peak, and how many were refused with a 4xx.
async fn measure(run: &Run<'_>, pid: u32, before: u64, name: &str, request: Request) -> [Row; 2] {
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(now) = rss(pid) {
                    peak.fetch_max(now, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = std::time::Instant::now();
    let size = request.body.len();
    let (refused, other) = send_at_once(run, request).await;
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = peak.load(Ordering::Relaxed);
    let scenario = format!("hostile ({name})");
    [
        Row::new(&scenario, "ingest peak RSS", peak as f64 / MIB, "MiB")
            .baseline("RSS before", before as f64 / MIB)
            .target(Target::AtMost(200.0))
            .note(format!(
                "{CONCURRENT} x {:.0} KiB at once, all answered in {:.2} s",
                size as f64 / 1024.0,
                took.as_secs_f64()
            )),
        Row::new(&scenario, "refused with 4xx", refused as f64, "requests")
            .target(Target::AtLeast(CONCURRENT as f64))
            .note(if other.is_empty() {
                String::new()
            } else {
                format!("others: {}", other.join(", "))
            }),
    ]
}

/// Sends [`CONCURRENT`] copies at once: how many were refused with a 4xx,
/// and what the others got.
async fn send_at_once(run: &Run<'_>, request: Request) -> (u64, Vec<String>) {
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let copy = Request {
            method: request.method.clone(),
            path: request.path.clone(),
            content_type: request.content_type,
            headers: Vec::new(),
            body: request.body.clone(),
        };
        let (addr, host) = (run.system.addr, run.system.host.clone());
        requests.spawn(async move { load::once(addr, &host, copy).await });
    }
    let (mut refused, mut other) = (0u64, Vec::new());
    while let Some(answer) = requests.join_next().await {
        match answer {
            Ok(Ok((status, _))) if status.is_client_error() => refused += 1,
            Ok(Ok((status, _))) => other.push(status.as_u16().to_string()),
            Ok(Err(error)) => other.push(error.to_string()),
            Err(error) => other.push(error.to_string()),
        }
    }
    (refused, other)
}
