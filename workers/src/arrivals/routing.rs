//! Road distances from a routing service (`ROUTING_URL`, an OSRM-compatible
//! HTTP API: `GET {url}/route/v1/driving/{lon},{lat};...`), used instead of
//! the great-circle distance times the learned road factor. Only each leg's
//! distance is taken: the time comes from the courier's own pace (a
//! service's durations are a car's at free flow, not a courier's).
//!
//! Any failure (unreachable, slow, an answer that does not fit) falls back
//! to the great-circle estimate: a routing service down must not stop
//! estimates, nor the window that stores the fixes.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use shared::domain::Coordinates;
use std::time::Duration;

/// Stops per request at most (the rest are estimated without the service).
pub const MAX_ROUTED_STOPS: usize = 50;
/// The largest answer read (50 legs are a few kilobytes).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct Routing {
    client: Client<HttpConnector, Empty<Bytes>>,
    /// `http://host:port`, without a trailing slash.
    base: String,
    timeout: Duration,
}

#[derive(serde::Deserialize)]
struct Answer {
    code: String,
    #[serde(default)]
    routes: Vec<Route>,
}

#[derive(serde::Deserialize)]
struct Route {
    legs: Vec<Leg>,
}

#[derive(serde::Deserialize)]
struct Leg {
    distance: f64,
}

impl Routing {
    /// `None` unless `url` is an `http://` URL (TLS: put a proxy in front).
    pub fn new(url: &str, timeout: Duration) -> Option<Self> {
        if !url.starts_with("http://") {
            return None;
        }
        Some(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: url.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The road metres of each leg from `from` through `stops` in order
    /// (at most [`MAX_ROUTED_STOPS`]); `None` when the service cannot say.
    pub async fn legs(&self, from: Coordinates, stops: &[Coordinates]) -> Option<Vec<f64>> {
        let stops = &stops[..stops.len().min(MAX_ROUTED_STOPS)];
        if stops.is_empty() {
            return None;
        }
        let points: Vec<String> = std::iter::once(from)
            .chain(stops.iter().copied())
            .map(|c| format!("{:.6},{:.6}", c.longitude(), c.latitude()))
            .collect();
        let url = format!(
            "{}/route/v1/driving/{}?overview=false&steps=false",
            self.base,
            points.join(";")
        );
        match tokio::time::timeout(self.timeout, self.ask(&url)).await {
            Ok(Ok(legs)) if legs.len() == stops.len() => Some(legs),
            Ok(Ok(legs)) => {
                tracing::warn!(
                    got = legs.len(),
                    want = stops.len(),
                    "routing answered other legs"
                );
                None
            }
            Ok(Err(problem)) => {
                tracing::warn!(%problem, "routing failed; estimating without it");
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "routing too slow; estimating without it");
                None
            }
        }
    }

    async fn ask(&self, url: &str) -> Result<Vec<f64>, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let response = self.client.get(uri).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if answer.code != "Ok" {
            return Err(format!("code {}", answer.code));
        }
        let route = answer.routes.into_iter().next().ok_or("no route")?;
        route
            .legs
            .into_iter()
            .map(|leg| {
                (leg.distance.is_finite() && leg.distance >= 0.0)
                    .then_some(leg.distance)
                    .ok_or_else(|| "a leg without a distance".to_owned())
            })
            .collect()
    }
}
