//! What the broadcaster counts, for the `/metrics` endpoint to come and for
//! tests. Plain atomics: updated on hot paths, never locked.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicI64,
    /// Active subscriptions over all connections.
    pub subscriptions: AtomicI64,
    /// Messages written to clients' sockets.
    pub delivered: AtomicU64,
    /// Clients disconnected because they could not keep up.
    pub dropped_slow: AtomicU64,
    /// Delay from an event's `occurred_at` to its send: count, sum and max, in µs.
    pub delay_count: AtomicU64,
    pub delay_sum_us: AtomicU64,
    pub delay_max_us: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
        let micros = (chrono::Utc::now() - occurred_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as u64;
        self.delay_count.fetch_add(1, Ordering::Relaxed);
        self.delay_sum_us.fetch_add(micros, Ordering::Relaxed);
        self.delay_max_us.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connections: self.connections.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_slow: self.dropped_slow.load(Ordering::Relaxed),
            delay_count: self.delay_count.load(Ordering::Relaxed),
            delay_sum_us: self.delay_sum_us.load(Ordering::Relaxed),
            delay_max_us: self.delay_max_us.load(Ordering::Relaxed),
        }
    }
}
