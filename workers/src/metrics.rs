//! What the worker pools count, exported at `http://$METRICS_LISTEN/metrics`
//! (`delivertrack_workers_<thing>_<unit>`, labelled by `pool`), and the small
//! HTTP server that serves them with `/health`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{HistogramVec, IntCounterVec, IntGauge};
use shared::metrics::{Metrics, BATCH_SIZES, SECONDS};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct WorkerMetrics {
    registry: Metrics,
    pub consumed: IntCounterVec,
    pub acked: IntCounterVec,
    /// Messages applied again after a transient failure (per attempt).
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    /// Messages per window (the batch one round of writes carries).
    pub window: HistogramVec,
    /// One round of writes, by `store` (`postgres`, `mongodb`).
    pub store_seconds: HistogramVec,
    /// From a command's `occurred_at` (ingest accepted it) to its commit.
    pub lag: HistogramVec,
    pub broker_connected: IntGauge,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let m = Metrics::new("workers");
        let pool = &["pool"];
        let metrics = Self {
            consumed: m.counter_vec(
                "messages_consumed_total",
                "Messages taken from the queue",
                pool,
            ),
            acked: m.counter_vec(
                "messages_acked_total",
                "Messages acknowledged (applied or dead-lettered)",
                pool,
            ),
            retried: m.counter_vec(
                "messages_retried_total",
                "Messages applied again after a transient failure",
                pool,
            ),
            dead_lettered: m.counter_vec(
                "messages_dead_lettered_total",
                "Messages sent to the dead-letter queue",
                pool,
            ),
            window: m.histogram_vec(
                "window_messages",
                "Messages applied together in one window",
                pool,
                BATCH_SIZES,
            ),
            store_seconds: m.histogram_vec(
                "store_write_duration_seconds",
                "One window's writes to a store",
                &["pool", "store"],
                SECONDS,
            ),
            lag: m.histogram_vec(
                "lag_seconds",
                "Time from a command's acceptance by ingest to its commit",
                pool,
                SECONDS,
            ),
            broker_connected: m.gauge(
                "broker_connected",
                "1 while consuming from RabbitMQ, else 0",
            ),
            registry: m,
        };
        // Known label values start at 0, so a rate over them exists before
        // the first event (and a dashboard shows 0, not "no data").
        for pool in ["packages", "locations"] {
            for counter in [
                &metrics.consumed,
                &metrics.acked,
                &metrics.retried,
                &metrics.dead_lettered,
            ] {
                counter.with_label_values(&[pool]);
            }
            metrics.window.with_label_values(&[pool]);
            metrics.lag.with_label_values(&[pool]);
        }
        for (pool, store) in [
            ("packages", "postgres"),
            ("locations", "postgres"),
            ("locations", "mongodb"),
        ] {
            metrics.store_seconds.with_label_values(&[pool, store]);
        }
        metrics
    }
}

impl WorkerMetrics {
    pub fn render(&self) -> String {
        self.registry.render()
    }
}

/// Serves `/metrics` and `/health` on `listener` until `stop`.
pub fn serve(
    listener: TcpListener,
    metrics: Arc<WorkerMetrics>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let connections = TaskTracker::new();
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let (metrics, stop) = (Arc::clone(&metrics), stop.clone());
            connections.spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let metrics = Arc::clone(&metrics);
                        async move { Ok::<_, std::convert::Infallible>(answer(&metrics, &request)) }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = stop.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), connections.wait()).await;
    })
}

/// Binds the metrics address; a bad or taken one is a configuration error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn answer(
    metrics: &WorkerMetrics,
    request: &Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    // Ready while consuming: a broker outage takes the pod out of rotation
    // without restarting it (liveness stays 200).
    let (status, content_type, body) = shared::metrics::endpoint_answer(
        request.method() == Method::GET,
        request.uri().path(),
        || metrics.render(),
        metrics.broker_connected.get() == 1,
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
