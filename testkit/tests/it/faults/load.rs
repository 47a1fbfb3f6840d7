//! The load: devices that create a package, then post points and status
//! checkpoints, retrying each write (same identity) like a real client;
//! and watchers that follow a package over WebSocket.

use super::{PACE, RETRY_FOR};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::ws::{self, Client};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Create,
    Status,
    Point,
}

/// One write the load driver made, and how it was answered in the end.
#[derive(Debug, Clone)]
pub(super) struct Write {
    pub(super) kind: Kind,
    /// What identifies it in the stores: the status event's location, or
    /// the point's address.
    pub(super) mark: String,
    pub(super) acked: bool,
    /// When the client first sent it, and when it stopped trying.
    pub(super) sent: Instant,
    pub(super) settled: Instant,
}

impl Write {
    /// Whether the client was trying to get it accepted while the fault
    /// was in place.
    pub(super) fn overlaps(&self, window: &(Instant, Instant)) -> bool {
        self.sent <= window.1 && self.settled >= window.0
    }
}

/// How a write ended, after retries.
pub(super) enum Answer {
    Accepted,
    /// A client error other than a timeout: the load is well-formed, so
    /// this is a regression (a 409, a 400, a 401...) and fails the suite.
    Refused(String),
    /// No 2xx within `RETRY_FOR`.
    GaveUp,
}

pub(super) struct Load {
    pub(super) http: reqwest::Client,
    pub(super) api: String,
    pub(super) writes: Mutex<Vec<Write>>,
    /// Writes answered with an unexpected client error.
    pub(super) refused: Mutex<Vec<String>>,
}

impl Load {
    pub(super) fn record(&self, kind: Kind, mark: String, sent: Instant, answer: &Answer) {
        if let Answer::Refused(why) = answer {
            self.refused
                .lock()
                .expect("the refusals")
                .push(format!("{mark}: {why}"));
        }
        self.writes.lock().expect("the writes").push(Write {
            kind,
            mark,
            acked: matches!(answer, Answer::Accepted),
            sent,
            settled: Instant::now(),
        });
    }

    /// Sends until a 2xx, a client error other than 408, or `RETRY_FOR`.
    pub(super) async fn attempt(&self, request: impl Fn() -> reqwest::RequestBuilder) -> Answer {
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            match request().timeout(Duration::from_secs(10)).send().await {
                Ok(response) if response.status().is_success() => return Answer::Accepted,
                Ok(response) if response.status().is_client_error() && response.status() != 408 => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Answer::Refused(format!("{status} {body}"));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Answer::GaveUp;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A status checkpoint, under an idempotency key.
    async fn status(&self, tracking_number: &str, step: usize) {
        let mark = format!("{tracking_number}-s{step}");
        let update = json!({"status": "in_transit", "location": mark});
        let sent = Instant::now();
        let url = format!("{}/packages/{tracking_number}/status", self.api);
        let answer = self
            .attempt(|| {
                self.http
                    .put(&url)
                    .header("idempotency-key", &mark)
                    .json(&update)
            })
            .await;
        self.record(Kind::Status, mark, sent, &answer);
    }

    /// One point, its own id its identity.
    async fn point(&self, tracking_number: &str, step: usize) {
        let mark = format!("{tracking_number}-p{step}");
        let point = json!({"id": mark, "address": mark, "latitude": 40.0 + step as f64 / 1000.0, "longitude": -74.0});
        let sent = Instant::now();
        let url = format!("{}/packages/{tracking_number}/locations", self.api);
        let answer = self.attempt(|| self.http.post(&url).json(&point)).await;
        self.record(Kind::Point, mark, sent, &answer);
    }

    /// A batch of three points, under an idempotency key.
    async fn batch(&self, tracking_number: &str, step: usize) {
        let marks: Vec<String> = (0..3)
            .map(|j| format!("{tracking_number}-b{step}-{j}"))
            .collect();
        let batch: Vec<Value> = marks
            .iter()
            .map(|mark| json!({"tracking_number": tracking_number, "id": mark, "address": mark, "latitude": 41.0, "longitude": -73.0}))
            .collect();
        let sent = Instant::now();
        let url = format!("{}/locations", self.api);
        let answer = self
            .attempt(|| {
                self.http
                    .post(&url)
                    .header("idempotency-key", &marks[0])
                    .json(&batch)
            })
            .await;
        for mark in marks {
            self.record(Kind::Point, mark, sent, &answer);
        }
    }

    pub(super) async fn device(
        self: Arc<Self>,
        tracking_number: String,
        created: tokio::sync::oneshot::Sender<()>,
        stop: CancellationToken,
    ) {
        let api = &self.api;
        let body = json!({"tracking_number": tracking_number, "sender_name": "Fault", "sender_address": "1 Main St",
            "recipient_name": "Suite", "recipient_address": "2 High St"});
        let sent = Instant::now();
        let answer = self
            .attempt(|| {
                self.http
                    .post(format!("{api}/packages"))
                    .header("idempotency-key", &tracking_number)
                    .json(&body)
            })
            .await;
        self.record(Kind::Create, tracking_number.clone(), sent, &answer);
        if !matches!(answer, Answer::Accepted) {
            return;
        }
        // Odd devices have no watcher: nobody listens, and that is fine.
        let _ = created.send(());
        let mut step = 0;
        while !stop.is_cancelled() {
            step += 1;
            match step % 3 {
                0 => self.status(&tracking_number, step).await,
                1 => self.point(&tracking_number, step).await,
                _ => self.batch(&tracking_number, step).await,
            }
            // Apps read the package meanwhile: cached views are filled
            // while workers invalidate them, and must never go backwards.
            let _ = self
                .http
                .get(format!("{api}/packages/{tracking_number}"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            tokio::time::sleep(PACE).await;
        }
    }
}

/// A WebSocket client watching one package from its first event,
/// reconnecting with `since_seq` when the connection drops.
pub(super) async fn watch(
    url: ws::Endpoint,
    tracking_number: String,
    seen: Arc<Mutex<Vec<i64>>>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let last = seen
            .lock()
            .map(|s| s.last().copied().unwrap_or(0))
            .unwrap_or(0);
        let Ok((mut client, _)) = tokio_tungstenite::connect_async(url.request()).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        ws::send(
            &mut client,
            json!({"type": "subscribe", "tracking_number": tracking_number, "since_seq": last}),
        )
        .await;
        read_updates(&mut client, &seen, &stop).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn read_updates(client: &mut Client, seen: &Mutex<Vec<i64>>, stop: &CancellationToken) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            heard = ws::next_heard(client, Duration::from_secs(30)) => heard,
        };
        // A close or a broken link (the broadcaster lost its broker): reconnect.
        let ws::Heard::Json(message) = message else {
            return;
        };
        match message["type"].as_str() {
            Some("package_update") => {
                if let (Some(seq), Ok(mut seen)) = (message["seq"].as_i64(), seen.lock()) {
                    seen.push(seq);
                }
            }
            Some("error") => return, // e.g. the event stream is down: reconnect
            Some("gap") => {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(-1); // a skipped event: a failure for this suite
                }
            }
            _ => {}
        }
    }
}
