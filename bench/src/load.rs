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

/// `Authorization` for every request, set once at start-up (the system
/// runs with authentication on; the baseline server ignores it, so both
/// carry the same bytes).
static AUTHORIZATION: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();

/// Sends `Authorization: Bearer <token>` with every request from now on.
pub fn authenticate_as(token: &str) -> anyhow::Result<()> {
    let value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let _ = AUTHORIZATION.set(value);
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

/// Runs the load. `make(connection, sequence)` builds each request;
/// `expected` says which statuses count as ok.
pub async fn run(
    label: &str,
    addr: SocketAddr,
    host: &str,
    connections: usize,
    limit: Limit,
    pace: Pace,
    make: impl Fn(usize, u64) -> Request + Send + Sync + 'static,
    expected: fn(StatusCode) -> bool,
) -> LoadResult {
    let make = Arc::new(make);
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let progress = progress_bar(label, limit);
    let started = Instant::now();
    let per_connection_interval = match pace {
        Pace::Closed => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(
            connections as f64 / rate.max(0.001),
        )),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..connections {
        let (make, sent, stop, host) = (
            Arc::clone(&make),
            Arc::clone(&sent),
            Arc::clone(&stop),
            host.to_owned(),
        );
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut latency = histogram();
            let (mut ok, mut failed, mut first_failure) = (0u64, 0u64, None);
            let mut sender = None;
            let mut ticker = per_connection_interval.map(|period| {
                let offset = period.mul_f64(connection as f64 / connections as f64);
                let mut ticker =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                ticker
            });
            loop {
                if stop.load(Ordering::Relaxed) || started.elapsed() >= limit.duration {
                    break;
                }
                if let Some(ticker) = ticker.as_mut() {
                    ticker.tick().await;
                }
                let sequence = sent.fetch_add(1, Ordering::Relaxed);
                if sequence >= limit.max_requests {
                    break;
                }
                if sender.is_none() {
                    sender = connect(addr).await;
                }
                let Some(open) = sender.as_mut() else {
                    failed += 1;
                    first_failure.get_or_insert_with(|| "cannot connect".to_owned());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let request = make(connection, sequence);
                let began = Instant::now();
                match send(open, &host, request).await {
                    Ok((status, _)) if expected(status) => {
                        ok += 1;
                        let _ = latency.record(began.elapsed().as_micros().max(1) as u64);
                    }
                    Ok((status, body)) => {
                        failed += 1;
                        first_failure.get_or_insert_with(|| {
                            format!("{status} {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(error) => {
                        failed += 1;
                        first_failure.get_or_insert_with(|| error.to_string());
                        sender = None;
                    }
                }
                progress.inc(1);
            }
            (ok, failed, latency, first_failure)
        });
    }
    let mut result = LoadResult {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency: histogram(),
        first_failure: None,
    };
    while let Some(joined) = tasks.join_next().await {
        if let Ok((ok, failed, latency, first_failure)) = joined {
            result.ok += ok;
            result.failed += failed;
            let _ = result.latency.add(&latency);
            if result.first_failure.is_none() {
                result.first_failure = first_failure;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    result.elapsed = started.elapsed();
    progress.finish_and_clear();
    result
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
    if let Some(authorization) = AUTHORIZATION.get() {
        builder = builder.header(hyper::header::AUTHORIZATION, authorization.clone());
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
