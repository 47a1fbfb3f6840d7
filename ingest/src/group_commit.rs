//! Group commit for location posts: the points of concurrent requests that
//! arrive within a few milliseconds share one broker message, and each
//! request is answered once the message holding its points is confirmed. A
//! 202 still means "confirmed by the broker"; points per second stop being
//! bounded by messages per second.
//!
//! One task owns the open group. It takes the first request, then whatever
//! arrives within [`GroupCommit::linger`] (or until the group holds
//! `max_points`), and hands the group to a publish task, so the next group
//! forms while the last one waits for its confirm. At most `max_in_flight`
//! groups wait for confirms; requests queue (boundedly) behind them.

use crate::broker::{Broker, SendError};
use shared::couriers::CourierPoint;
use shared::wire::{Envelope, LocationBatch, LocationPoint, Principal, TraceContext};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Requests waiting to join a group.
const QUEUE: usize = 16_384;

#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// How long the first point of a group waits for company.
    pub linger: Duration,
    pub max_points: usize,
    pub max_in_flight: usize,
}

/// Why points were not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Broker(String),
    #[error("ingest is shutting down")]
    ShuttingDown,
}

/// One request's points (a package's, or a courier's own reports) and
/// who posted them.
struct Post {
    points: Vec<LocationPoint>,
    reports: Vec<CourierPoint>,
    source: Principal,
    trace: TraceContext,
}

impl Post {
    fn len(&self) -> usize {
        self.points.len() + self.reports.len()
    }
}

struct Waiting {
    post: Post,
    done: oneshot::Sender<Result<(), Refused>>,
}

/// Posts with this many points are a message of their own; smaller ones
/// (single points above all) share one with concurrent posts.
const OWN_MESSAGE_FROM: usize = 100;

#[derive(Clone)]
pub struct PointGroups {
    requests: mpsc::Sender<Waiting>,
    broker: Broker,
    on: bool,
}

impl PointGroups {
    /// Starts the grouping task; it runs until `stop`, then publishes what it
    /// holds and waits for every group's confirm.
    pub fn start(
        broker: Broker,
        settings: GroupCommit,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (requests, waiting) = mpsc::channel(QUEUE);
        let task = tokio::spawn(group(broker.clone(), settings, waiting, stop));
        let on = !settings.linger.is_zero();
        (
            Self {
                requests,
                broker,
                on,
            },
            task,
        )
    }

    /// Publishes the points, in a group unless there are many of them or
    /// grouping is off; returns once the broker confirmed the message
    /// holding them.
    pub async fn publish(
        &self,
        points: Vec<LocationPoint>,
        source: Principal,
        trace: TraceContext,
    ) -> Result<(), Refused> {
        self.publish_post(Post {
            points,
            reports: Vec::new(),
            source,
            trace,
        })
        .await
    }

    /// Publishes a courier's own reports, as [`Self::publish`] does points.
    pub async fn publish_reports(
        &self,
        reports: Vec<CourierPoint>,
        source: Principal,
        trace: TraceContext,
    ) -> Result<(), Refused> {
        self.publish_post(Post {
            points: Vec::new(),
            reports,
            source,
            trace,
        })
        .await
    }

    async fn publish_post(&self, post: Post) -> Result<(), Refused> {
        if !self.on || post.len() >= OWN_MESSAGE_FROM {
            return send(&self.broker, batch_of(vec![post])).await;
        }
        let (done, outcome) = oneshot::channel();
        self.requests
            .send(Waiting { post, done })
            .await
            .map_err(|_| Refused::ShuttingDown)?;
        outcome.await.unwrap_or(Err(Refused::ShuttingDown))
    }
}

async fn group(
    broker: Broker,
    settings: GroupCommit,
    mut waiting: mpsc::Receiver<Waiting>,
    stop: CancellationToken,
) {
    let in_flight = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
    let publishing = TaskTracker::new();
    loop {
        let first = tokio::select! {
            biased;
            next = waiting.recv() => match next {
                Some(first) => first,
                None => break,
            },
            _ = stop.cancelled() => break,
        };
        let mut count = first.post.len();
        let mut members = vec![first];
        let deadline = Instant::now() + settings.linger;
        while count < settings.max_points {
            match tokio::time::timeout_at(deadline, waiting.recv()).await {
                Ok(Some(next)) => {
                    count += next.post.len();
                    members.push(next);
                }
                _ => break,
            }
        }
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let broker = broker.clone();
        publishing.spawn(async move {
            publish_group(&broker, members).await;
            drop(permit);
        });
    }
    // Whatever is still queued goes out too, in groups of the usual size: it
    // was promised an answer.
    waiting.close();
    let (mut rest, mut count) = (Vec::new(), 0);
    while let Some(member) = waiting.recv().await {
        count += member.post.len();
        rest.push(member);
        if count >= settings.max_points {
            publish_group(&broker, std::mem::take(&mut rest)).await;
            count = 0;
        }
    }
    if !rest.is_empty() {
        publish_group(&broker, rest).await;
    }
    publishing.close();
    publishing.wait().await;
}

async fn publish_group(broker: &Broker, members: Vec<Waiting>) {
    let (posts, answers): (Vec<Post>, Vec<_>) =
        members.into_iter().map(|m| (m.post, m.done)).unzip();
    let outcome = send(broker, batch_of(posts)).await;
    for answer in answers {
        let _ = answer.send(outcome.clone());
    }
}

/// The posts' points as one batch, each pointing at its poster in the
/// batch's `sources` (each poster listed once). A message has one trace
/// context: the first post's.
fn batch_of(posts: Vec<Post>) -> (LocationBatch, TraceContext) {
    let trace = posts.first().map(|p| p.trace.clone()).unwrap_or_default();
    let mut batch = LocationBatch::new(Vec::with_capacity(
        posts.iter().map(|p| p.points.len()).sum(),
    ));
    batch.courier_points = Vec::with_capacity(posts.iter().map(|p| p.reports.len()).sum());
    for post in posts {
        let index = match batch.sources.iter().position(|s| *s == post.source) {
            Some(index) => index,
            None => {
                batch.sources.push(post.source);
                batch.sources.len() - 1
            }
        };
        let source = u16::try_from(index).ok();
        batch.points.extend(
            post.points
                .into_iter()
                .map(|p| LocationPoint { source, ..p }),
        );
        batch.courier_points.extend(
            post.reports
                .into_iter()
                .map(|p| CourierPoint { source, ..p }),
        );
    }
    (batch, trace)
}

/// The batch as one confirmed message.
async fn send(
    broker: &Broker,
    (batch, trace): (LocationBatch, TraceContext),
) -> Result<(), Refused> {
    let mut envelope = Envelope::new(
        Uuid::now_v7(),
        chrono::Utc::now(),
        Principal::default(),
        batch,
    );
    envelope.trace = trace;
    broker
        .send_locations(&envelope)
        .await
        .map_err(|error: SendError| Refused::Broker(error.to_string()))
}
