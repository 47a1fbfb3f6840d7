//! An HTTP/1.1 load generator on hyper: C keep-alive connections, each
//! sending its next request as soon as the last is answered (closed loop), or
//! at a fixed rate (open loop). Latency goes into an HDR histogram.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use indicatif::{ProgressBar, ProgressStyle};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// `Authorization` for every request, set at start-up and renewed by runs
/// that outlast an access token (the system runs with authentication on;
/// the baseline server ignores it, so both carry the same bytes).
static AUTHORIZATION: std::sync::RwLock<Option<HeaderValue>> = std::sync::RwLock::new(None);

/// Sends `Authorization: Bearer <token>` with every request from now on.
pub fn authenticate_as(token: &str) -> anyhow::Result<()> {
    let value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    *AUTHORIZATION
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
    Ok(())
}

/// One request to send.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub content_type: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Request {
    pub fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            content_type: "",
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn json(method: Method, path: String, body: &serde_json::Value) -> Self {
        Self {
            method,
            path,
            content_type: "application/json",
            headers: Vec::new(),
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        }
    }
}

/// When a load stops.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub duration: Duration,
    pub max_requests: u64,
}

impl Limit {
    /// Bounded in time only.
    pub fn lasting(duration: Duration) -> Self {
        Self {
            duration,
            max_requests: u64::MAX,
        }
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request once the last is answered.
    Closed,
    /// This many requests per second over all connections.
    Rate(f64),
}

/// What a load measured.
pub struct LoadResult {
    /// Answered with an expected status.
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latency of the ok requests, in microseconds.
    pub latency: Histogram<u64>,
    /// The first unexpected answer, to explain failures.
    pub first_failure: Option<String>,
}

impl LoadResult {
    pub fn per_second(&self, units_per_request: f64) -> f64 {
        self.ok as f64 * units_per_request / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// The address, host header and path prefix of a base URL like
/// `http://127.0.0.1:8080/api/v1`.
pub fn address_of(base: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("only http:// URLs: {base}"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))?;
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("/{}", path.trim_end_matches('/'))
    };
    Ok((addr, host.to_owned(), prefix))
}

/// A load against one HTTP server: where, over how many keep-alive
/// connections, for how long, how paced, and which answers count as ok.
#[derive(Debug, Clone)]
pub struct Load {
    pub label: String,
    pub addr: SocketAddr,
    pub host: String,
    pub connections: usize,
    pub limit: Limit,
    pub pace: Pace,
    /// The status an answer must have to count as ok.
    pub expected: StatusCode,
}

impl Load {
    /// One connection, closed loop, ten seconds, expecting 200.
    pub fn new(label: impl Into<String>, addr: SocketAddr, host: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            addr,
            host: host.into(),
            connections: 1,
            limit: Limit::lasting(Duration::from_secs(10)),
            pace: Pace::Closed,
            expected: StatusCode::OK,
        }
    }

    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    pub fn lasting(mut self, duration: Duration) -> Self {
        self.limit = Limit::lasting(duration);
        self
    }

    /// At most `max_requests`, within `duration`.
    pub fn at_most(mut self, max_requests: u64, duration: Duration) -> Self {
        self.limit = Limit {
            duration,
            max_requests,
        };
        self
    }

    /// `rate` requests per second over all connections.
    pub fn paced(mut self, rate: f64) -> Self {
        self.pace = Pace::Rate(rate);
        self
    }

    pub fn expecting(mut self, status: StatusCode) -> Self {
        self.expected = status;
        self
    }

    /// Runs the load. `make(connection, sequence)` builds each request.
    pub async fn run(
        self,
        make: impl Fn(usize, u64) -> Request + Send + Sync + 'static,
    ) -> LoadResult {
        let make = Arc::new(make);
        let shared = Arc::new(Shared {
            sent: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started: Instant::now(),
            progress: progress_bar(&self.label, self.limit),
        });
        let load = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for connection in 0..load.connections {
            let (load, shared, make) = (Arc::clone(&load), Arc::clone(&shared), Arc::clone(&make));
            tasks.spawn(async move { drive(&load, &shared, connection, &*make).await });
        }
        let mut result = LoadResult {
            ok: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
            first_failure: None,
        };
        while let Some(joined) = tasks.join_next().await {
            if let Ok(tally) = joined {
                result.ok += tally.ok;
                result.failed += tally.failed;
                let _ = result.latency.add(&tally.latency);
                if result.first_failure.is_none() {
                    result.first_failure = tally.first_failure;
                }
            }
        }
        shared.stop.store(true, Ordering::Relaxed);
        result.elapsed = shared.started.elapsed();
        shared.progress.finish_and_clear();
        result
    }
}

/// What a load's connections share.
struct Shared {
    sent: AtomicU64,
    stop: AtomicBool,
    started: Instant,
    progress: ProgressBar,
}

/// What one connection counted.
struct Tally {
    ok: u64,
    failed: u64,
    latency: Histogram<u64>,
    first_failure: Option<String>,
}

impl Tally {
    fn failed(&mut self, why: impl FnOnce() -> String) {
        self.failed += 1;
        self.first_failure.get_or_insert_with(why);
    }
}

/// One connection of a load: requests until the limit, reconnecting when
/// its connection breaks.
async fn drive(
    load: &Load,
    shared: &Shared,
    connection: usize,
    make: &(dyn Fn(usize, u64) -> Request + Send + Sync),
) -> Tally {
    let mut tally = Tally {
        ok: 0,
        failed: 0,
        latency: histogram(),
        first_failure: None,
    };
    let mut sender = None;
    let mut ticker = ticker(load, connection);
    while !shared.stop.load(Ordering::Relaxed) && shared.started.elapsed() < load.limit.duration {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        let sequence = shared.sent.fetch_add(1, Ordering::Relaxed);
        if sequence >= load.limit.max_requests {
            break;
        }
        if sender.is_none() {
            sender = connect(load.addr).await;
        }
        let Some(open) = sender.as_mut() else {
            tally.failed(|| "cannot connect".to_owned());
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let began = Instant::now();
        match send(open, &load.host, make(connection, sequence)).await {
            Ok((status, _)) if status == load.expected => {
                tally.ok += 1;
                let _ = tally
                    .latency
                    .record(began.elapsed().as_micros().max(1) as u64);
            }
            Ok((status, body)) => {
                tally.failed(|| format!("{status} {}", String::from_utf8_lossy(&body)))
            }
            Err(error) => {
                tally.failed(|| error.to_string());
                sender = None;
            }
        }
        shared.progress.inc(1);
    }
    tally
}

/// An open loop's pace for one connection, its ticks offset so the
/// connections spread over the period.
fn ticker(load: &Load, connection: usize) -> Option<tokio::time::Interval> {
    let Pace::Rate(rate) = load.pace else {
        return None;
    };
    let connections = load.connections as f64;
    let period = Duration::from_secs_f64(connections / rate.max(0.001));
    let offset = period.mul_f64(connection as f64 / connections);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    Some(ticker)
}

/// One request on a connection of its own (set-up steps like signing in).
pub async fn once(
    addr: SocketAddr,
    host: &str,
    request: Request,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr)
        .await
        .ok_or_else(|| anyhow::anyhow!("cannot connect to {addr}"))?;
    send(&mut sender, host, request).await
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

async fn send(
    sender: &mut Sender,
    host: &str,
    request: Request,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(request.path)
        .header(HOST, host);
    if !request.content_type.is_empty() {
        builder = builder.header(CONTENT_TYPE, request.content_type);
    }
    let authorization = AUTHORIZATION
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(authorization) = authorization {
        builder = builder.header(hyper::header::AUTHORIZATION, authorization);
    }
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = sender
        .send_request(builder.body(Full::new(request.body))?)
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn progress_bar(label: &str, limit: Limit) -> ProgressBar {
    let progress = if limit.max_requests == u64::MAX {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::new(limit.max_requests)
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:<28} {pos:>9} requests  {per_sec:>12}  {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.set_prefix(label.to_owned());
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}
