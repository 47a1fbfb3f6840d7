//! The sending half of one client: drains the client's outbox into its
//! [`Streams`], reads what the streams miss from the stores, and writes
//! frames, heartbeats and finally the close frame.
//!
//! The outbox is drained before every frame written, as long as fewer than
//! [`PAGE`] frames wait for the socket; so it only fills when the client does
//! not read (its socket stalls, or frames pile up faster than it takes them).
//! That, and nothing else (a long replay included: catching-up packages hold
//! their live events aside, see [`Streams`]), makes a client "too slow".

use crate::hub::{Hub, Outgoing};
use crate::store::{EventStore, StoreError};
use crate::streams::{Fetch, Output, Page, Streams, PAGE};
use chrono::{DateTime, Utc};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// How long one frame may wait for the socket before the client counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub const TOO_SLOW: &str = "client too slow: outgoing queue full";

/// A frame for the client, and for live events when they happened (metrics).
type Frame = (Utf8Bytes, Option<DateTime<Utc>>);

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

type PendingFetch =
    Pin<Box<dyn Future<Output = (String, Result<crate::store::Page, StoreError>)> + Send>>;

/// Why the connection is closing; the first reason set wins. Shared by the
/// reader and the writer.
#[derive(Clone, Default)]
pub struct Closing {
    pub token: CancellationToken,
    frame: Arc<Mutex<Option<CloseFrame>>>,
}

impl Closing {
    pub fn close(&self, code: CloseCode, reason: &'static str) {
        if let Ok(mut frame) = self.frame.lock() {
            frame.get_or_insert(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            });
        }
        self.token.cancel();
    }

    fn frame(&self) -> Option<CloseFrame> {
        self.frame.lock().ok().and_then(|f| f.clone())
    }
}

pub struct Writer {
    pub sink: Sink,
    pub inbox: mpsc::Receiver<Outgoing>,
    pub closing: Closing,
    pub ping_interval: Duration,
    pub hold_limit: usize,
    pub store: EventStore,
    pub hub: Arc<Hub>,
}

/// The writer's state between frames.
struct Sending {
    inbox: mpsc::Receiver<Outgoing>,
    streams: Streams<Frame>,
    /// Frames in the order they go out.
    ready: VecDeque<Output<Frame>>,
    /// The one read from the stores under way.
    fetch: Option<PendingFetch>,
    store: EventStore,
    /// A close asked for through the outbox: after what came before it.
    close_after: Option<&'static str>,
}

/// How a wait ended.
enum Waited {
    Go,
    /// The outbox closed, or the connection is closing: stop writing.
    Stop,
    Ping,
}

impl Writer {
    pub async fn run(self) {
        let Self {
            mut sink,
            inbox,
            closing,
            ping_interval,
            hold_limit,
            store,
            hub,
        } = self;
        let mut state = Sending {
            inbox,
            streams: Streams::new(hold_limit),
            ready: VecDeque::new(),
            fetch: None,
            store,
            close_after: None,
        };
        let mut ping = tokio::time::interval(ping_interval);
        ping.tick().await;
        loop {
            match state.wait(&closing, &mut ping).await {
                Waited::Stop => break,
                Waited::Ping => {
                    let ping = Message::Ping(Default::default());
                    if send(&mut sink, ping, &closing, &hub).await.is_err() {
                        break;
                    }
                }
                Waited::Go => {}
            }
            state.fetch_next();
            if state.flush(&mut sink, &closing, &hub).await.is_err() {
                return close(sink, &closing).await;
            }
            if let Some(reason) = state.close_after {
                closing.close(CloseCode::Policy, reason);
                break;
            }
        }
        close(sink, &closing).await;
    }
}

impl Sending {
    /// Waits for the next thing to do: an outbox item, a page read back,
    /// a stream's fetch coming due, a heartbeat.
    async fn wait(&mut self, closing: &Closing, ping: &mut tokio::time::Interval) -> Waited {
        let mut out = Vec::new();
        let wake = self.streams.next_fetch_at();
        let fetching = self.fetch.is_some();
        let waited = tokio::select! {
            biased;
            _ = closing.token.cancelled() => Waited::Stop,
            next = self.inbox.recv() => match next {
                Some(Outgoing::Close(reason)) => {
                    self.close_after = Some(reason);
                    Waited::Go
                }
                Some(outgoing) => {
                    accept(&mut self.streams, outgoing, &mut out);
                    Waited::Go
                }
                None => Waited::Stop,
            },
            (tracking_number, page) = pending_read(&mut self.fetch), if fetching => {
                self.fetch = None;
                let now = Instant::now();
                match page {
                    Ok(page) => self.streams.on_page(&tracking_number, frames_of(page), now, &mut out),
                    Err(error) => {
                        tracing::warn!(%error, tracking_number, "stored events unavailable; retrying");
                        self.streams.on_fetch_failed(&tracking_number, now);
                    }
                }
                Waited::Go
            }
            _ = sleep_until(wake), if wake.is_some() && !fetching => Waited::Go,
            _ = ping.tick() => Waited::Ping,
        };
        self.ready.extend(out);
        waited
    }

    /// Starts the read a stream is due for, unless one is under way.
    fn fetch_next(&mut self) {
        if self.fetch.is_none() {
            self.fetch = self
                .streams
                .due_fetch(Instant::now())
                .map(|wanted| read(self.store.clone(), wanted));
        }
    }

    /// Writes what is ready, taking in what arrives meanwhile so the outbox
    /// only fills if the client does not keep up.
    async fn flush(&mut self, sink: &mut Sink, closing: &Closing, hub: &Hub) -> Result<(), ()> {
        while let Some(output) = self.ready.pop_front() {
            self.take_arrivals();
            let (message, occurred_at) = match output {
                Output::Event((text, at)) => (Message::Text(text), at),
                Output::Gap {
                    tracking_number,
                    from,
                    to,
                } => (
                    Message::Text(crate::protocol::gap(&tracking_number, from, to).into()),
                    None,
                ),
            };
            send(sink, message, closing, hub).await?;
            if let Some(at) = occurred_at {
                hub.metrics.delivered.inc();
                hub.metrics.record_delay(at);
            }
        }
        Ok(())
    }

    /// Drains the outbox while fewer than a page of frames wait.
    fn take_arrivals(&mut self) {
        while self.ready.len() < PAGE as usize && self.close_after.is_none() {
            let Ok(outgoing) = self.inbox.try_recv() else {
                break;
            };
            if let Outgoing::Close(reason) = outgoing {
                self.close_after = Some(reason);
                break;
            }
            let mut arrived = Vec::new();
            accept(&mut self.streams, outgoing, &mut arrived);
            self.ready.extend(arrived);
        }
    }
}

/// Takes one outbox item into the streams.
fn accept(streams: &mut Streams<Frame>, outgoing: Outgoing, out: &mut Vec<Output<Frame>>) {
    let now = Instant::now();
    match outgoing {
        Outgoing::Live {
            tracking_number,
            updates,
            occurred_at,
        } => {
            for (seq, text) in updates.iter() {
                streams.offer(
                    &tracking_number,
                    *seq,
                    (text.clone(), Some(occurred_at)),
                    now,
                    out,
                );
            }
        }
        Outgoing::Reply(text) => out.push(Output::Event((text, None))),
        Outgoing::Replies(texts) => out.extend(texts.into_iter().map(|t| Output::Event((t, None)))),
        Outgoing::Watch(tracking_number) => streams.watch(&tracking_number),
        Outgoing::Start {
            tracking_number,
            after,
            head,
        } => streams.start(&tracking_number, after, head, now, out),
        Outgoing::Forget(tracking_number) => streams.forget(&tracking_number),
        Outgoing::Resync => streams.resync(now),
        // Taken by the writer's loop before it gets here.
        Outgoing::Close(_) => {}
        Outgoing::Everything {
            updates,
            occurred_at,
        } => out.extend(
            updates
                .iter()
                .map(|(_, text)| Output::Event((text.clone(), Some(occurred_at)))),
        ),
        Outgoing::Aside { frame, occurred_at } => {
            out.push(Output::Event((frame, Some(occurred_at))))
        }
    }
}

fn read(store: EventStore, wanted: Fetch) -> PendingFetch {
    Box::pin(async move {
        let page = store
            .page(&wanted.tracking_number, wanted.from, wanted.limit)
            .await;
        (wanted.tracking_number, page)
    })
}

fn frames_of(page: crate::store::Page) -> Page<Frame> {
    Page {
        head: page.head,
        end: page.end,
        events: page
            .events
            .into_iter()
            .map(|(seq, text)| (seq, (Utf8Bytes::from(text), None)))
            .collect(),
        in_flight: page.in_flight,
    }
}

async fn pending_read(
    fetch: &mut Option<PendingFetch>,
) -> (String, Result<crate::store::Page, StoreError>) {
    match fetch {
        Some(read) => read.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes one frame, unless the connection is closing; a socket that takes
/// nothing for [`SEND_TIMEOUT`] closes it.
async fn send(sink: &mut Sink, message: Message, closing: &Closing, hub: &Hub) -> Result<(), ()> {
    let sent = tokio::select! {
        _ = closing.token.cancelled() => return Err(()),
        sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(message)) => sent,
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => {
            closing.token.cancel();
            Err(())
        }
        Err(_) => {
            hub.metrics.dropped_slow.inc();
            closing.close(CloseCode::Policy, "client too slow: send timed out");
            Err(())
        }
    }
}

async fn close(mut sink: Sink, closing: &Closing) {
    let frame = closing.frame().unwrap_or(CloseFrame {
        code: CloseCode::Normal,
        reason: Utf8Bytes::from_static("bye"),
    });
    tracing::debug!(code = %frame.code, reason = %frame.reason, "closing a client");
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}
