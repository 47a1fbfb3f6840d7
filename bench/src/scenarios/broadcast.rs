//! `broadcast`: many WebSocket subscribers while points are posted at a fixed
//! rate. Each point carries its post time in its address, so a subscriber
//! measures post-to-receipt latency on the same clock; seqs show what is
//! missing or duplicated. Then one hot package with many watchers.

use super::Run;
use crate::load::{histogram, Request};
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

/// One measurement: so many subscriptions over so many connections and
/// packages, while points are posted at `rate`.
struct Watchers<'a> {
    name: &'a str,
    /// The seeded packages' scenario code.
    scenario: &'a str,
    packages: usize,
    connections: usize,
    subscriptions: usize,
    rate: f64,
    p99_target_ms: f64,
    /// Whether to draw the latency chart.
    chart: bool,
}

/// Deliveries counted against the packages' final heads.
#[derive(Default)]
struct Counts {
    missing: i64,
    duplicated: i64,
    delivered: i64,
}

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let sizes = run.sizes;
    let mut rows = watchers(
        run,
        &Watchers {
            name: "broadcast",
            scenario: "BW",
            packages: sizes.watched_packages,
            connections: sizes.ws_connections,
            subscriptions: sizes.subscriptions,
            rate: sizes.broadcast_rate,
            p99_target_ms: 50.0,
            chart: true,
        },
    )
    .await?;
    let hot = Watchers {
        name: "broadcast (hot package)",
        scenario: "BH",
        packages: 1,
        connections: sizes.hot_watchers,
        subscriptions: sizes.hot_watchers,
        rate: 20.0,
        p99_target_ms: 100.0,
        chart: false,
    };
    rows.extend(watchers(run, &hot).await?);
    Ok(rows)
}

async fn watchers(run: &Run<'_>, w: &Watchers<'_>) -> anyhow::Result<Vec<Row>> {
    let numbers = Arc::new(run.seed(w.scenario, w.packages).await?);
    let seen = Arc::new(Seen {
        latency: Mutex::new(histogram()),
        seqs: Mutex::new(HashMap::new()),
        subscribed: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let mut clients = subscribe_all(run, w, &numbers, &seen, &stop);
    let subscribed = wait_subscribed(w, &seen).await;
    let ws_port = run
        .system
        .ws
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok());
    let paths: Vec<String> = run.system.package_paths(&numbers, "/locations");
    let posted = run
        .load(format!("{}: posting", w.name))
        .connections(16.min(w.packages * 4))
        .paced(w.rate)
        .expecting(StatusCode::ACCEPTED)
        .run(move |_, i| {
            let point = json!({"latitude": 40.0, "longitude": -74.0, "address": format!("t{}", now_nanos())});
            Request::json(Method::POST, paths[i as usize % paths.len()].clone(), &point)
        })
        .await;
    let rss = ws_port.and_then(crate::system::System::rss_mib_of_listener);
    wait_for_stragglers(&seen).await;
    stop.cancel();
    while clients.join_next().await.is_some() {}
    let heads: HashMap<String, i64> = shared::packages::reads::heads(&run.system.pool, &numbers)
        .await?
        .into_iter()
        .collect();
    // Every accepted post must be numbered (seq 1 is each package's creation).
    let numbered: i64 = heads.values().map(|head| head - 1).sum();
    let unstored = posted.ok as i64 - numbered;
    let counts = count(&seen, &heads, &numbers);
    let latency = seen
        .latency
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| histogram());
    if w.chart {
        chart(run, w, subscribed, &latency);
    }
    let mut rows = rows(w, subscribed, &posted, &latency, unstored, &counts);
    if let Some(rss) = rss {
        rows.push(Row::new(w.name, "broadcaster RSS", rss, "MiB").target(Target::AtMost(400.0)));
    }
    Ok(rows)
}

/// One subscriber task per connection, at most 200 connecting at once.
fn subscribe_all(
    run: &Run<'_>,
    w: &Watchers<'_>,
    numbers: &Arc<Vec<String>>,
    seen: &Arc<Seen>,
    stop: &CancellationToken,
) -> tokio::task::JoinSet<()> {
    let per_connection = (w.subscriptions / w.connections).max(1);
    let mut clients = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    for connection in 0..w.connections {
        let watched: Vec<usize> = watched_by(connection, per_connection, w.packages)
            .into_iter()
            .collect();
        let client = Subscriber {
            url: (run.system.ws.clone(), run.system.ws_token.clone()),
            connection,
            numbers: Arc::clone(numbers),
            seen: Arc::clone(seen),
            stop: stop.clone(),
            gate: Arc::clone(&gate),
        };
        clients.spawn(client.run(watched));
    }
    clients
}

/// The packages one connection watches.
fn watched_by(connection: usize, per_connection: usize, packages: usize) -> HashSet<usize> {
    (0..per_connection)
        .map(|j| (connection * per_connection + j) % packages)
        .collect()
}

/// Until every subscription is confirmed (at most five minutes); how many were.
async fn wait_subscribed(w: &Watchers<'_>, seen: &Seen) -> u64 {
    let per_connection = (w.subscriptions / w.connections).max(1);
    let expected = (0..w.connections)
        .map(|c| watched_by(c, per_connection, w.packages).len() as u64)
        .sum::<u64>();
    let waited = std::time::Instant::now();
    while seen.subscribed.load(Ordering::Relaxed) < expected
        && waited.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen.subscribed.load(Ordering::Relaxed)
}

/// Stragglers (the pools may still be draining): until nothing new
/// arrived for two seconds, at most a minute.
async fn wait_for_stragglers(seen: &Seen) {
    let mut last = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = seen.latency.lock().map(|h| h.len()).unwrap_or(0);
        if now == last {
            break;
        }
        last = now;
    }
}

fn count(seen: &Seen, heads: &HashMap<String, i64>, numbers: &[String]) -> Counts {
    let mut counts = Counts::default();
    if let Ok(seqs) = seen.seqs.lock() {
        for ((_, package), got) in seqs.iter() {
            let head = heads.get(&numbers[*package]).copied().unwrap_or(1);
            let unique: HashSet<i64> = got.iter().copied().collect();
            counts.delivered += got.len() as i64;
            counts.duplicated += got.len() as i64 - unique.len() as i64;
            counts.missing += (head - 1) - unique.len() as i64; // seq 1 is the creation, before subscribing
        }
    }
    counts
}

fn chart(run: &Run<'_>, w: &Watchers<'_>, subscribed: u64, latency: &Histogram<u64>) {
    if let Some(dir) = std::path::Path::new(&run.sizes.chart).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let title = format!(
        "{subscribed} subscriptions, {} connections, {} packages, {} posts/s",
        w.connections, w.packages, w.rate
    );
    if let Err(error) = crate::report::latency_chart(&run.sizes.chart, &title, latency) {
        eprintln!("chart not written: {error}");
    }
}

fn rows(
    w: &Watchers<'_>,
    subscribed: u64,
    posted: &crate::load::LoadResult,
    latency: &Histogram<u64>,
    unstored: i64,
    counts: &Counts,
) -> Vec<Row> {
    let p99 = latency.value_at_quantile(0.99) as f64 / 1000.0;
    vec![
        Row::new(w.name, "subscriptions", subscribed as f64, "subs")
            .answers(posted)
            .note(format!(
                "{} connections over {} packages; {} posts accepted at {}/s",
                w.connections, w.packages, posted.ok, w.rate
            )),
        Row::new(w.name, "post-to-receipt p99", p99, "ms")
            .latency(latency)
            .target(Target::AtMost(w.p99_target_ms))
            .note(format!("{} deliveries", counts.delivered)),
        // Nothing accepted proves nothing: counted as one post not stored.
        Row::new(
            w.name,
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
        Row::new(w.name, "missing deliveries", counts.missing as f64, "msgs")
            .target(Target::AtMost(0.0)),
        Row::new(
            w.name,
            "duplicated deliveries",
            counts.duplicated as f64,
            "msgs",
        )
        .target(Target::AtMost(0.0)),
    ]
}

/// One WebSocket client of the measurement.
struct Subscriber {
    url: (String, Option<String>),
    connection: usize,
    numbers: Arc<Vec<String>>,
    seen: Arc<Seen>,
    stop: CancellationToken,
    gate: Arc<tokio::sync::Semaphore>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Subscriber {
    /// Connects, subscribes to `watched` (each from its first event), and
    /// records what arrives until stopped.
    async fn run(self, watched: Vec<usize>) {
        let Some(mut socket) = self.open().await else {
            return;
        };
        for package in &watched {
            let subscribe = json!({"type": "subscribe", "tracking_number": self.numbers[*package], "since_seq": 1});
            if socket
                .send(Message::text(subscribe.to_string()))
                .await
                .is_err()
            {
                return;
            }
        }
        let by_name: HashMap<&str, usize> = watched
            .iter()
            .map(|p| (self.numbers[*p].as_str(), *p))
            .collect();
        loop {
            let frame = tokio::select! {
                _ = self.stop.cancelled() => break,
                frame = socket.next() => frame,
            };
            match frame {
                Some(Ok(Message::Text(text))) => self.record(&by_name, &text),
                Some(Ok(_)) => continue,
                _ => break,
            }
        }
        let _ = socket.close(None).await;
    }

    async fn open(&self) -> Option<Socket> {
        let _permit = self.gate.acquire().await;
        let (url, token) = &self.url;
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .ok()?;
        if let Some(Ok(value)) = token.as_ref().map(|t| format!("Bearer {t}").parse()) {
            request.headers_mut().insert("authorization", value);
        }
        tokio_tungstenite::connect_async(request)
            .await
            .ok()
            .map(|(socket, _)| socket)
    }

    /// One frame: a confirmed subscription, or an update's latency and seq.
    fn record(&self, by_name: &HashMap<&str, usize>, text: &str) {
        let received = now_nanos();
        let Ok(update) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match update["type"].as_str() {
            Some("subscribed") => {
                self.seen.subscribed.fetch_add(1, Ordering::Relaxed);
            }
            Some("package_update") => {
                let Some(&package) = update["tracking_number"]
                    .as_str()
                    .and_then(|tn| by_name.get(tn))
                else {
                    return;
                };
                if let Some(posted) = update["data"]["location"]
                    .as_str()
                    .and_then(|a| a.strip_prefix('t'))
                    .and_then(|t| t.parse::<u128>().ok())
                {
                    if let Ok(mut latency) = self.seen.latency.lock() {
                        let micros = (received.saturating_sub(posted) / 1000).max(1);
                        let _ = latency.record(micros as u64);
                    }
                }
                if let (Some(seq), Ok(mut seqs)) = (update["seq"].as_i64(), self.seen.seqs.lock()) {
                    seqs.entry((self.connection, package))
                        .or_default()
                        .push(seq);
                }
            }
            _ => {}
        }
    }
}
