//! Prometheus metrics, named `delivertrack_<service>_<thing>_<unit>`.
//!
//! Each service instance keeps its own registry rather than the crate's
//! global one: tests run several services in one process, and each must
//! export only its own counts. Label values are always from small fixed sets
//! (route templates, pools, stores), never a tracking number or a user id.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Durations in seconds, from a millisecond to half a minute.
pub const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counts of messages in one batch, 1 to 2,048.
pub const BATCH_SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];

/// One service's metrics, under `delivertrack_<service>_`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    prefix: String,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        Self {
            registry: Registry::new(),
            prefix: format!("delivertrack_{service}_"),
        }
    }

    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::with_opts(self.opts(name, help)))
    }

    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(self.opts(name, help), labels))
    }

    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::with_opts(self.opts(name, help)))
    }

    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(self.opts(name, help), labels))
    }

    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.register(Histogram::with_opts(
            self.histogram_opts(name, help, buckets),
        ))
    }

    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        self.register(HistogramVec::new(
            self.histogram_opts(name, help, buckets),
            labels,
        ))
    }

    /// Everything registered, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    fn opts(&self, name: &str, help: &str) -> Opts {
        Opts::new(format!("{}{name}", self.prefix), help)
    }

    fn histogram_opts(&self, name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
        HistogramOpts::new(format!("{}{name}", self.prefix), help).buckets(buckets.to_vec())
    }

    /// Names and labels are constants of this codebase: a bad one is a bug
    /// caught by the first test that starts the service. A duplicate only
    /// costs the metric its export.
    fn register<C: Collector + Clone + 'static>(&self, made: prometheus::Result<C>) -> C {
        let collector = made.expect("metric names and labels are valid constants");
        if let Err(error) = self.registry.register(Box::new(collector.clone())) {
            tracing::error!(%error, "metric not registered");
        }
        collector
    }
}

/// Seconds since `since`, never negative (clocks of two hosts may disagree).
pub fn seconds_since(since: chrono::DateTime<chrono::Utc>) -> f64 {
    let micros = (chrono::Utc::now() - since).num_microseconds().unwrap_or(0);
    micros.max(0) as f64 / 1e6
}
