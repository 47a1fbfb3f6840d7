//! What ingest counts, exported at `/metrics`
//! (`delivertrack_ingest_<thing>_<unit>`).

use prometheus::{HistogramVec, IntCounterVec, IntGauge};
use shared::metrics::{Metrics, SECONDS};

pub struct IngestMetrics {
    registry: Metrics,
    /// By route template (never the raw path), method and status code.
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    /// From publish to the broker's confirm, by `command` or `locations`.
    pub confirm_seconds: HistogramVec,
    /// Publishes the broker did not take (each one answered 503), by why.
    pub publishes_refused: IntCounterVec,
    /// Cached package reads, `hit` or `miss`.
    pub cache: IntCounterVec,
    /// Requests answered 429, by which limit: `address`, `caller`, `auth`.
    pub rate_limited: IntCounterVec,
    pub broker_connected: IntGauge,
    /// Package reads from PostgreSQL, by `source`: `primary` or `replica`.
    pub db_reads: IntCounterVec,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let m = Metrics::new("ingest");
        let metrics = Self {
            requests: m.counter_vec(
                "http_requests_total",
                "HTTP requests by route template, method and status code",
                &["route", "method", "status"],
            ),
            request_seconds: m.histogram_vec(
                "http_request_duration_seconds",
                "Time from the request's head to the response's head",
                &["route"],
                SECONDS,
            ),
            confirm_seconds: m.histogram_vec(
                "publish_confirm_duration_seconds",
                "Time from publishing a message to the broker's confirm",
                &["kind"],
                SECONDS,
            ),
            publishes_refused: m.counter_vec(
                "publishes_refused_total",
                "Publishes the broker did not confirm (answered 503)",
                &["reason"],
            ),
            cache: m.counter_vec(
                "cache_requests_total",
                "Package reads from the Redis view, by hit or miss",
                &["result"],
            ),
            rate_limited: m.counter_vec(
                "rate_limited_total",
                "Requests refused with 429, by limit",
                &["limit"],
            ),
            broker_connected: m.gauge(
                "broker_connected",
                "1 while the RabbitMQ link is up, else 0",
            ),
            db_reads: m.counter_vec(
                "db_reads_total",
                "Package reads from PostgreSQL, by primary or read replica",
                &["source"],
            ),
            registry: m,
        };
        metrics.start_at_zero();
        metrics
    }
}

impl IngestMetrics {
    /// Known label values start at 0, so a rate over them exists before
    /// the first event (and a dashboard shows 0, not "no data").
    fn start_at_zero(&self) {
        let metrics = self;
        for result in ["hit", "miss"] {
            metrics.cache.with_label_values(&[result]);
        }
        for source in ["primary", "replica"] {
            metrics.db_reads.with_label_values(&[source]);
        }
        for limit in ["address", "caller", "auth", "track"] {
            metrics.rate_limited.with_label_values(&[limit]);
        }
        for reason in ["not_connected", "nacked", "timeout", "unroutable", "broker"] {
            metrics.publishes_refused.with_label_values(&[reason]);
        }
        for kind in ["command", "locations"] {
            metrics.confirm_seconds.with_label_values(&[kind]);
        }
    }
}

impl IngestMetrics {
    pub fn render(&self) -> String {
        self.registry.render()
    }
}
