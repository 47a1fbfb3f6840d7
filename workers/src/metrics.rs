//! What the worker pools count, exported at `http://$METRICS_LISTEN/metrics`
//! (`delivertrack_workers_<thing>_<unit>`, labelled by `pool`), and the small
//! HTTP server that serves them with `/health`.

use prometheus::{HistogramVec, IntCounterVec, IntGauge, IntGaugeVec};
use shared::metrics::{Metrics, BATCH_SIZES, SECONDS};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct WorkerMetrics {
    registry: Metrics,
    pub consumed: IntCounterVec,
    pub acked: IntCounterVec,
    /// Messages applied again after a transient failure (per attempt).
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    /// Messages refused because their seal did not verify, by `reason`
    /// (`unsigned`, `forged`, `unknown_key`).
    pub refused: IntCounterVec,
    /// Mails the SMTP server took, by `kind`.
    pub mail_sent: IntCounterVec,
    /// Recipient mails not sent, by `reason` (`unsubscribed`,
    /// `daily_cap`, `already_sent`, `expired`).
    pub mail_skipped: IntCounterVec,
    /// Webhook attempts, by `outcome` (`success`: a 2xx; `failure`).
    pub webhook_attempts: IntCounterVec,
    /// Messages per window (the batch one round of writes carries).
    pub window: HistogramVec,
    /// One round of writes, by `store` (`postgres`, `mongodb`).
    pub store_seconds: HistogramVec,
    /// From a command's `occurred_at` (ingest accepted it) to its commit.
    pub lag: HistogramVec,
    pub broker_connected: IntGauge,
    /// 1 on each package shard this replica consumes (its agreed share).
    pub shard_held: IntGaugeVec,
    /// Live package-pool replicas, as this one last read them.
    pub pool_members: IntGauge,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let m = Metrics::new("workers");
        let pool = &["pool"];
        let (shard_held, pool_members) = pool_gauges(&m);
        let (refused, mail_sent, mail_skipped, webhook_attempts) = outcome_counters(&m);
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
            refused,
            mail_sent,
            mail_skipped,
            webhook_attempts,
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
            shard_held,
            pool_members,
            registry: m,
        };
        metrics.start_at_zero();
        metrics
    }
}

/// Which shards this replica holds, and how many replicas share them.
fn pool_gauges(m: &Metrics) -> (IntGaugeVec, IntGauge) {
    let held = m.gauge_vec(
        "shard_held",
        "1 on each package shard this replica consumes, else 0",
        &["shard"],
    );
    let members = m.gauge(
        "pool_members",
        "Live package-pool replicas sharing the shards",
    );
    (held, members)
}

/// Messages refused for their seal, and what the mail and webhook pools send.
fn outcome_counters(m: &Metrics) -> (IntCounterVec, IntCounterVec, IntCounterVec, IntCounterVec) {
    (
        m.counter_vec(
            "messages_refused_total",
            "Messages refused (and dead-lettered) because their seal did not verify",
            &["pool", "reason"],
        ),
        m.counter_vec("mail_sent_total", "Mails the SMTP server took", &["kind"]),
        m.counter_vec(
            "mail_skipped_total",
            "Recipient mails not sent: unsubscribed, over the daily cap, or sent before",
            &["reason"],
        ),
        m.counter_vec(
            "webhook_attempts_total",
            "Attempts at webhook deliveries, by outcome (success: a 2xx answer)",
            &["outcome"],
        ),
    )
}

impl WorkerMetrics {
    /// Known label values start at 0, so a rate over them exists before the
    /// first event (and a dashboard shows 0, not "no data").
    fn start_at_zero(&self) {
        let metrics = self;
        for outcome in ["success", "failure"] {
            metrics.webhook_attempts.with_label_values(&[outcome]);
        }
        for kind in [
            "verify_email",
            "account_exists",
            "reset_password",
            "webhook_disabled",
            "recipient_notice",
        ] {
            metrics.mail_sent.with_label_values(&[kind]);
        }
        for reason in ["unsubscribed", "daily_cap", "already_sent", "expired"] {
            metrics.mail_skipped.with_label_values(&[reason]);
        }
        for pool in ["packages", "locations", "mail", "webhooks"] {
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
            for reason in ["unsigned", "forged", "unknown_key"] {
                metrics.refused.with_label_values(&[pool, reason]);
            }
        }
        for (pool, store) in [
            ("packages", "postgres"),
            ("locations", "postgres"),
            ("locations", "mongodb"),
        ] {
            metrics.store_seconds.with_label_values(&[pool, store]);
        }
    }
}

/// What the window runner counts, by pool.
impl WorkerMetrics {
    /// A window of `messages` was taken from the queue.
    pub fn taken(&self, pool: &str, messages: usize) {
        self.consumed
            .with_label_values(&[pool])
            .inc_by(messages as u64);
        self.window
            .with_label_values(&[pool])
            .observe(messages as f64);
    }

    pub fn acked(&self, pool: &str, messages: usize) {
        self.acked
            .with_label_values(&[pool])
            .inc_by(messages as u64);
    }

    pub fn dead_lettered(&self, pool: &str, messages: usize) {
        if messages > 0 {
            self.dead_lettered
                .with_label_values(&[pool])
                .inc_by(messages as u64);
        }
    }

    /// A message applied, `occurred_at` being when ingest accepted it.
    pub fn applied(&self, pool: &str, occurred_at: chrono::DateTime<chrono::Utc>) {
        self.lag
            .with_label_values(&[pool])
            .observe(shared::metrics::seconds_since(occurred_at));
    }

    /// One round of writes to `store`.
    pub fn stored(&self, pool: &str, store: &str, took: std::time::Duration) {
        self.store_seconds
            .with_label_values(&[pool, store])
            .observe(took.as_secs_f64());
    }
}

impl shared::endpoints::Exposed for WorkerMetrics {
    fn render(&self) -> String {
        self.registry.render()
    }

    /// Ready while consuming: a broker outage takes the pod out of rotation
    /// without restarting it (liveness stays 200).
    fn ready(&self) -> bool {
        self.broker_connected.get() == 1
    }
}

/// Serves `/metrics` and the health probes on `listener` until `stop`.
pub fn serve(
    listener: TcpListener,
    metrics: Arc<WorkerMetrics>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    shared::endpoints::serve(listener, metrics, stop)
}
