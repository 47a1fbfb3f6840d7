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

impl Writer {
    pub async fn run(self) {
        let Self {
            mut sink,
            mut inbox,
            closing,
            ping_interval,
            hold_limit,
            store,
            hub,
        } = self;
        let mut streams: Streams<Frame> = Streams::new(hold_limit);
        let mut ready: VecDeque<Output<Frame>> = VecDeque::new();
        let mut fetch: Option<PendingFetch> = None;
        let mut ping = tokio::time::interval(ping_interval);
        ping.tick().await;
        // A close asked for through the outbox: after what came before it.
        let mut close_after: Option<&'static str> = None;
        loop {
            let mut out = Vec::new();
            let wake = streams.next_fetch_at();
            tokio::select! {
                biased;
                _ = closing.token.cancelled() => break,
                next = inbox.recv() => match next {
                    Some(Outgoing::Close(reason)) => close_after = Some(reason),
                    Some(outgoing) => accept(&mut streams, outgoing, &mut out),
                    None => break,
                },
                (tracking_number, page) = pending_read(&mut fetch), if fetch.is_some() => {
                    fetch = None;
                    let now = Instant::now();
                    match page {
                        Ok(page) => streams.on_page(&tracking_number, frames_of(page), now, &mut out),
                        Err(error) => {
                            tracing::warn!(%error, tracking_number, "stored events unavailable; retrying");
                            streams.on_fetch_failed(&tracking_number, now);
                        }
                    }
                }
                _ = sleep_until(wake), if wake.is_some() && fetch.is_none() => {}
                _ = ping.tick() => {
                    if send(&mut sink, Message::Ping(Default::default()), &closing, &hub).await.is_err() {
                        break;
                    }
                }
            }
            ready.extend(out);
            if fetch.is_none() {
                fetch = streams
                    .due_fetch(Instant::now())
                    .map(|wanted| read(store.clone(), wanted));
            }
            // Write what is ready, taking in what arrives meanwhile so the
            // outbox only fills if the client does not keep up.
            while let Some(output) = ready.pop_front() {
                while ready.len() < PAGE as usize && close_after.is_none() {
                    let Ok(outgoing) = inbox.try_recv() else {
                        break;
                    };
                    if let Outgoing::Close(reason) = outgoing {
                        close_after = Some(reason);
                        break;
                    }
                    let mut arrived = Vec::new();
                    accept(&mut streams, outgoing, &mut arrived);
                    ready.extend(arrived);
                }
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
                if send(&mut sink, message, &closing, &hub).await.is_err() {
                    return close(sink, &closing).await;
                }
                if let Some(at) = occurred_at {
                    hub.metrics.delivered.inc();
                    hub.metrics.record_delay(at);
                }
            }
            if let Some(reason) = close_after {
                closing.close(CloseCode::Policy, reason);
                break;
            }
        }
        close(sink, &closing).await;
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
