//! What the broadcaster counts, exported at `/metrics` on its port
//! (`delivertrack_broadcaster_<thing>_<unit>`) and read by tests. Updated on
//! hot paths, never locked (prometheus' collectors are atomics).

use prometheus::{Histogram, IntCounter, IntGauge};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Metrics {
    registry: shared::metrics::Metrics,
    /// Open WebSocket connections.
    pub connections: IntGauge,
    /// Active subscriptions over all connections.
    pub subscriptions: IntGauge,
    /// Messages written to clients' sockets.
    pub delivered: IntCounter,
    /// Clients disconnected because they could not keep up.
    pub dropped_slow: IntCounter,
    /// 1 while the result events stream is consumed (readiness).
    pub broker_connected: IntGauge,
    /// Events dropped because their seal did not verify.
    pub events_refused: IntCounter,
    /// Delay from an event's `occurred_at` to its send.
    lag: Histogram,
    /// The longest such delay, in µs (a histogram keeps no maximum).
    delay_max_us: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = shared::metrics::Metrics::new("broadcaster");
        Self {
            connections: m.gauge("connections", "Open WebSocket connections"),
            subscriptions: m.gauge("subscriptions", "Active package subscriptions"),
            delivered: m.counter("messages_sent_total", "Updates written to clients' sockets"),
            dropped_slow: m.counter(
                "slow_clients_dropped_total",
                "Clients disconnected because they could not keep up",
            ),
            broker_connected: m.gauge(
                "broker_connected",
                "1 while result events are consumed from RabbitMQ, else 0",
            ),
            events_refused: m.counter(
                "events_refused_total",
                "Events dropped because their seal did not verify",
            ),
            lag: m.histogram(
                "lag_seconds",
                "Time from a change's occurred_at to its send to a client",
                shared::metrics::SECONDS,
            ),
            delay_max_us: AtomicU64::new(0),
            registry: m,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub connections: i64,
    pub subscriptions: i64,
    pub delivered: u64,
    pub dropped_slow: u64,
    pub delay_count: u64,
    pub delay_sum_us: u64,
    pub delay_max_us: u64,
}

impl Metrics {
    pub fn record_delay(&self, occurred_at: chrono::DateTime<chrono::Utc>) {
        let seconds = shared::metrics::seconds_since(occurred_at);
        self.lag.observe(seconds);
        self.delay_max_us
            .fetch_max((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connections: self.connections.get(),
            subscriptions: self.subscriptions.get(),
            delivered: self.delivered.get(),
            dropped_slow: self.dropped_slow.get(),
            delay_count: self.lag.get_sample_count(),
            delay_sum_us: (self.lag.get_sample_sum() * 1e6) as u64,
            delay_max_us: self.delay_max_us.load(Ordering::Relaxed),
        }
    }

    pub fn render(&self) -> String {
        self.registry.render()
    }
}
