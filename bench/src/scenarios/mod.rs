//! The scenarios, each bounded in time and requests, each followed by a check
//! that everything it got accepted was stored.
//!
//! - [`locations`]: `locations-single` and `locations-batch`;
//! - [`package_flow`]: create then status updates, synchronous outcome;
//! - [`reads`]: cached reads over a hot set, and cold ones;
//! - [`broadcast`]: WebSocket subscribers, post-to-receipt latency;
//! - [`drain`]: how fast the pools empty a backlog, and whether a steady
//!   single-point load keeps the queue bounded;
//! - [`hostile`]: ingest's memory under worst-case bodies (not in `all`: it
//!   reads ingest's memory from /proc);
//! - [`signing`]: what sealing and opening a broker message costs;
//! - [`couriers`]: couriers' positions over OsmAnd, 100 parcels aboard each;
//! - [`geofences`]: the location drain with 10,000 zones against none;
//! - [`webhooks`]: signed deliveries to a local receiver, against the
//!   creates that feed them;
//! - [`scale`]: the reads, flows and feed at growing store sizes (not in
//!   `all`: it fills the stores for good).

pub mod broadcast;
pub mod couriers;
pub mod drain;
pub mod geofences;
pub mod hostile;
pub mod locations;
pub mod package_flow;
pub mod reads;
pub mod scale;
pub mod signing;
pub mod webhooks;

use crate::baselines::Baselines;
use crate::load::{Load, Request};
use crate::report::Row;
use crate::system::System;
use hyper::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

/// The sizes of a run.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// How long each closed-loop load lasts.
    pub duration: Duration,
    /// HTTP connections of a load.
    pub connections: usize,
    /// WebSocket connections and subscriptions of the broadcast scenario.
    pub ws_connections: usize,
    pub subscriptions: usize,
    pub watched_packages: usize,
    /// Posts per second during the broadcast scenario.
    pub broadcast_rate: f64,
    pub hot_watchers: usize,
    /// Points and status updates posted at once for the drain scenario.
    pub drain_backlog: u64,
    /// The steady single-point rate, and for how long.
    pub sustained_rate: f64,
    pub sustained_for: Duration,
    /// Zones drawn for the geofences scenario.
    pub zones: usize,
    /// Where the broadcast latency chart goes.
    pub chart: String,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            duration: Duration::from_secs(10),
            connections: 64,
            ws_connections: 10_000,
            subscriptions: 20_000,
            watched_packages: 2_000,
            broadcast_rate: 1000.0,
            hot_watchers: 1000,
            drain_backlog: 20_000,
            sustained_rate: 2000.0,
            sustained_for: Duration::from_secs(300),
            zones: 10_000,
            chart: "docs/bench/broadcast-latency.svg".into(),
        }
    }

    /// A short run that exercises every scenario (the test suite runs it).
    pub fn smoke() -> Self {
        Self {
            duration: Duration::from_secs(1),
            connections: 8,
            ws_connections: 20,
            subscriptions: 40,
            watched_packages: 10,
            broadcast_rate: 50.0,
            hot_watchers: 10,
            drain_backlog: 200,
            sustained_rate: 100.0,
            sustained_for: Duration::from_secs(3),
            zones: 500,
            chart: std::env::temp_dir()
                .join("dt-bench-broadcast-latency.svg")
                .to_string_lossy()
                .into_owned(),
        }
    }
}

/// What every scenario gets.
pub struct Run<'a> {
    pub system: &'a System,
    pub baselines: &'a Baselines,
    pub sizes: &'a Sizes,
    /// Unique per run: the tracking numbers it creates carry it.
    pub id: String,
}

impl Run<'_> {
    /// A load against the API over the run's connections, for its duration.
    pub fn load(&self, label: impl Into<String>) -> Load {
        self.system
            .load(label)
            .connections(self.sizes.connections)
            .lasting(self.sizes.duration)
    }

    pub fn tracking_number(&self, scenario: &str, i: usize) -> String {
        format!("B{}{scenario}{i:06}", self.id)
    }

    /// Creates `count` packages (synchronously, so they exist) and returns
    /// their tracking numbers.
    pub async fn seed(&self, scenario: &str, count: usize) -> anyhow::Result<Vec<String>> {
        let numbers: Vec<String> = (0..count)
            .map(|i| self.tracking_number(scenario, i))
            .collect();
        let shared = std::sync::Arc::new(numbers.clone());
        let path = self.system.path("/packages");
        let result = self
            .load(format!("{scenario}: creating packages"))
            .connections(self.sizes.connections.min(count))
            .at_most(count as u64, Duration::from_secs(600))
            .expecting(StatusCode::CREATED)
            .run(move |_, i| {
                Request::json(Method::POST, path.clone(), &package(&shared[i as usize]))
            })
            .await;
        anyhow::ensure!(
            result.failed == 0,
            "seeding {scenario} failed: {:?}",
            result.first_failure
        );
        Ok(numbers)
    }

    /// The row saying whether every accepted write was stored, and how long
    /// after the load it took.
    pub async fn loss_check<F, Fut>(
        &self,
        scenario: &str,
        what: &str,
        accepted: u64,
        stored: F,
    ) -> Row
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = u64>,
    {
        let (all, count, took) = self
            .system
            .wait_stored(accepted, Duration::from_secs(600), stored)
            .await;
        let note = if accepted == 0 {
            // `stored >= accepted` holds on an empty run: that is a failure.
            "NOTHING ACCEPTED: the check proves nothing".to_owned()
        } else if all {
            format!("all stored {:.1} s after the load", took.as_secs_f64())
        } else {
            format!("LOST {} of {accepted}", accepted.saturating_sub(count))
        };
        // With nothing accepted the figure is 0 against a target of 1: a
        // run that got nothing through fails instead of passing vacuously.
        let value = if accepted == 0 { 0.0 } else { count as f64 };
        Row::new(scenario, &format!("accepted {what} stored"), value, what)
            .target(crate::report::Target::AtLeast(accepted.max(1) as f64))
            .note(note)
    }
}

pub fn package(tracking_number: &str) -> serde_json::Value {
    json!({
        "tracking_number": tracking_number, "sender_name": "Bench Sender", "sender_address": "1 Main St",
        "recipient_name": "Bench Recipient", "recipient_address": "2 High St", "weight": 1.5
    })
}
