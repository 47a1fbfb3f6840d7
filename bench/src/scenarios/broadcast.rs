//! `broadcast`: many WebSocket subscribers while points are posted at a fixed
//! rate. Each point carries its post time in its address, so a subscriber
//! measures post-to-receipt latency on the same clock; seqs show what is
//! missing or duplicated. Then one hot package with many watchers.

use super::Run;
use crate::load::{self, histogram, Limit, Pace, Request};
use crate::report::{Row, Target};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// What the subscribers saw.
struct Seen {
    latency: Mutex<Histogram<u64>>,
    /// Per (connection, package): the seqs received.
    seqs: Mutex<HashMap<(usize, usize), Vec<i64>>>,
    subscribed: AtomicU64,
}

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let sizes = run.sizes;
    let mut rows = watchers(
        run,
        "broadcast",
        "BW",
        sizes.watched_packages,
        sizes.ws_connections,
        sizes.subscriptions,
        sizes.broadcast_rate,
        50.0,
        true,
    )
    .await?;
    rows.extend(
        watchers(
            run,
            "broadcast (hot package)",
            "BH",
            1,
            sizes.hot_watchers,
            sizes.hot_watchers,
            20.0,
            100.0,
            false,
        )
        .await?,
    );
    Ok(rows)
}

#[allow(clippy::too_many_arguments)]
async fn watchers(
    run: &Run<'_>,
    name: &str,
    scenario: &str,
    packages: usize,
    connections: usize,
    subscriptions: usize,
    rate: f64,
    p99_target_ms: f64,
    chart: bool,
) -> anyhow::Result<Vec<Row>> {
    let numbers = Arc::new(run.seed(scenario, packages).await?);
    let per_connection = (subscriptions / connections).max(1);
    let seen = Arc::new(Seen {
        latency: Mutex::new(histogram()),
        seqs: Mutex::new(HashMap::new()),
        subscribed: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let mut clients = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    for connection in 0..connections {
        let watched: Vec<usize> = (0..per_connection)
            .map(|j| (connection * per_connection + j) % packages)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (url, numbers, seen, stop, gate) = (
            (run.system.ws.clone(), run.system.ws_token.clone()),
            Arc::clone(&numbers),
            Arc::clone(&seen),
            stop.clone(),
            Arc::clone(&gate),
        );
        clients.spawn(async move {
            subscriber(url, connection, watched, numbers, seen, stop, gate).await
        });
    }
    let expected_subscriptions = (0..connections)
        .map(|c| {
            (0..per_connection)
                .map(|j| (c * per_connection + j) % packages)
                .collect::<HashSet<_>>()
                .len() as u64
        })
        .sum::<u64>();
    let waited = std::time::Instant::now();
    while seen.subscribed.load(Ordering::Relaxed) < expected_subscriptions
        && waited.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subscribed = seen.subscribed.load(Ordering::Relaxed);
    let ws_port = run
        .system
        .ws
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok());
    let paths: Vec<String> = run.system.package_paths(&numbers, "/locations");
    let posted = load::run(
        &format!("{name}: posting"),
        run.system.addr,
        &run.system.host,
        16.min(packages * 4).max(1),
        Limit::lasting(run.sizes.duration),
        Pace::Rate(rate),
        move |_, i| {
            let point = json!({"latitude": 40.0, "longitude": -74.0, "address": format!("t{}", now_nanos())});
            Request::json(Method::POST, paths[i as usize % paths.len()].clone(), &point)
        },
        |status| status == StatusCode::ACCEPTED,
    )
    .await;
    let rss = ws_port.and_then(crate::system::System::rss_mib_of_listener);
    // Stragglers (the pools may still be draining): until nothing new
    // arrived for two seconds, at most a minute; then the final heads.
    let mut last = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = seen.latency.lock().map(|h| h.len()).unwrap_or(0);
        if now == last {
            break;
        }
        last = now;
    }
    stop.cancel();
    while clients.join_next().await.is_some() {}
    let heads: HashMap<String, i64> = shared::packages::reads::heads(&run.system.pool, &numbers)
        .await?
        .into_iter()
        .collect();
    // Every accepted post must be numbered (seq 1 is each package's creation).
    let numbered: i64 = heads.values().map(|head| head - 1).sum();
    let unstored = posted.ok as i64 - numbered;
    let (mut missing, mut duplicated, mut delivered) = (0i64, 0i64, 0i64);
    if let Ok(seqs) = seen.seqs.lock() {
        for ((_, package), got) in seqs.iter() {
            let head = heads.get(&numbers[*package]).copied().unwrap_or(1);
            let unique: HashSet<i64> = got.iter().copied().collect();
            delivered += got.len() as i64;
            duplicated += got.len() as i64 - unique.len() as i64;
            missing += (head - 1) - unique.len() as i64; // seq 1 is the creation, before subscribing
        }
    }
    let latency = seen
        .latency
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| histogram());
    if chart {
        if let Some(dir) = std::path::Path::new(&run.sizes.chart).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let title = format!("{subscribed} subscriptions, {connections} connections, {packages} packages, {rate} posts/s");
        if let Err(error) = crate::report::latency_chart(&run.sizes.chart, &title, &latency) {
            eprintln!("chart not written: {error}");
        }
    }
    let mut rows = vec![
        Row::new(name, "subscriptions", subscribed as f64, "subs")
            .answers(&posted)
            .note(format!(
                "{connections} connections over {packages} packages; {} posts accepted at {rate}/s",
                posted.ok
            )),
        Row::new(
            name,
            "post-to-receipt p99",
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        )
        .latency(&latency)
        .target(Target::AtMost(p99_target_ms))
        .note(format!("{delivered} deliveries")),
        // Nothing accepted proves nothing: counted as one post not stored.
        Row::new(
            name,
            "accepted posts not stored",
            if posted.ok == 0 { 1.0 } else { unstored as f64 },
            "posts",
        )
        .target(Target::AtMost(0.0))
        .note(if posted.ok == 0 {
            "NOTHING ACCEPTED"
        } else {
            ""
        }),
        Row::new(name, "missing deliveries", missing as f64, "msgs").target(Target::AtMost(0.0)),
        Row::new(name, "duplicated deliveries", duplicated as f64, "msgs")
            .target(Target::AtMost(0.0)),
    ];
    if let Some(rss) = rss {
        rows.push(Row::new(name, "broadcaster RSS", rss, "MiB").target(Target::AtMost(400.0)));
    }
    Ok(rows)
}

async fn subscriber(
    url: (String, Option<String>),
    connection: usize,
    watched: Vec<usize>,
    numbers: Arc<Vec<String>>,
    seen: Arc<Seen>,
    stop: CancellationToken,
    gate: Arc<tokio::sync::Semaphore>,
) {
    let socket = {
        let _permit = gate.acquire().await;
        let (url, token) = &url;
        let Ok(mut request) =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
        else {
            return;
        };
        if let Some(Ok(value)) = token.as_ref().map(|t| format!("Bearer {t}").parse()) {
            request.headers_mut().insert("authorization", value);
        }
        tokio_tungstenite::connect_async(request).await
    };
    let Ok((mut socket, _)) = socket else { return };
    let by_name: HashMap<&str, usize> =
        watched.iter().map(|p| (numbers[*p].as_str(), *p)).collect();
    for package in &watched {
        let subscribe =
            json!({"type": "subscribe", "tracking_number": numbers[*package], "since_seq": 1});
        if socket
            .send(Message::text(subscribe.to_string()))
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => break,
            frame = socket.next() => frame,
        };
        let Some(Ok(Message::Text(text))) = frame else {
            if matches!(frame, Some(Ok(_))) {
                continue;
            }
            break;
        };
        let received = now_nanos();
        let Ok(update) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match update["type"].as_str() {
            Some("subscribed") => {
                seen.subscribed.fetch_add(1, Ordering::Relaxed);
            }
            Some("package_update") => {
                let Some(&package) = update["tracking_number"]
                    .as_str()
                    .and_then(|tn| by_name.get(tn))
                else {
                    continue;
                };
                if let Some(posted) = update["data"]["location"]
                    .as_str()
                    .and_then(|a| a.strip_prefix('t'))
                    .and_then(|t| t.parse::<u128>().ok())
                {
                    if let Ok(mut latency) = seen.latency.lock() {
                        let _ =
                            latency.record((received.saturating_sub(posted) / 1000).max(1) as u64);
                    }
                }
                if let (Some(seq), Ok(mut seqs)) = (update["seq"].as_i64(), seen.seqs.lock()) {
                    seqs.entry((connection, package)).or_default().push(seq);
                }
            }
            _ => {}
        }
    }
    let _ = socket.close(None).await;
}
