//! One WebSocket client.
//!
//! The reader (this task) handles the client's frames; a writer task owns the
//! socket's sending half and drains a bounded outbox, so a client that stops
//! reading fills only its own outbox and is then closed as too slow. Either
//! side ends the connection through `closing`, with a close frame saying why.

use crate::events::Events;
use crate::hub::{ClientHandle, ClientId, Hub, Outgoing};
use crate::ordering::{Ordering as PackageOrder, Overflow};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use shared::domain::TrackingNumber;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
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

pub struct Limits {
    pub max_subscriptions: usize,
    pub client_queue: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

pub struct Shared {
    pub hub: Arc<Hub>,
    pub events: Events,
    pub pool: PgPool,
    pub history: mongodb::Collection<mongodb::bson::Document>,
    pub limits: Limits,
}

#[derive(Deserialize)]
struct ClientMessage {
    r#type: String,
    tracking_number: Option<String>,
    since_seq: Option<i64>,
}

/// Why the connection is closing; the first reason set wins.
#[derive(Clone, Default)]
struct Closing {
    token: CancellationToken,
    frame: Arc<Mutex<Option<CloseFrame>>>,
}

impl Closing {
    fn close(&self, code: CloseCode, reason: &'static str) {
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

const TOO_SLOW: &str = "client too slow: outgoing queue full";

pub async fn serve(
    ws: WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let (sink, mut source) = ws.split();
    let (outbox, inbox) = mpsc::channel::<Outgoing>(shared.limits.client_queue);
    let closing = Closing::default();
    let handle = ClientHandle {
        outbox: outbox.clone(),
        too_slow: CancellationToken::new(),
    };
    let id = shared.hub.new_client_id();
    let metrics = &shared.hub.metrics;
    metrics.connections.fetch_add(1, Ordering::Relaxed);
    let writer = tokio::spawn(write(
        sink,
        inbox,
        closing.clone(),
        shared.limits.ping_interval,
        shared.limits.client_queue,
        Arc::clone(&shared.hub),
    ));
    let mut subscriptions = HashSet::new();
    let mut last_heard = Instant::now();
    let mut idle_check =
        tokio::time::interval(shared.limits.ping_interval.min(shared.limits.idle_timeout));

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                closing.close(CloseCode::Away, "server shutting down");
                break;
            }
            _ = handle.too_slow.cancelled() => {
                closing.close(CloseCode::Policy, TOO_SLOW);
                break;
            }
            _ = closing.token.cancelled() => break,
            _ = idle_check.tick() => {
                if last_heard.elapsed() > shared.limits.idle_timeout {
                    closing.close(CloseCode::Policy, "idle timeout");
                    break;
                }
            }
            frame = source.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let client = Client { shared: &shared, id, handle: &handle, outbox: &outbox };
                        let Some(reply) = client.handle_text(&mut subscriptions, &text).await else { continue };
                        if outbox.try_send(Outgoing::Reply(Utf8Bytes::from(reply))).is_err() {
                            closing.close(CloseCode::Policy, TOO_SLOW);
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        closing.close(CloseCode::Unsupported, "only JSON text frames are accepted");
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {} // ping (answered by the library), pong
                    Some(Err(error)) => {
                        tracing::debug!(%error, "client frame error");
                        closing.close(CloseCode::Size, "frame too large or malformed");
                        break;
                    }
                }
            }
        }
    }
    metrics
        .subscriptions
        .fetch_sub(subscriptions.len() as i64, Ordering::Relaxed);
    for tracking_number in subscriptions {
        shared.hub.unsubscribe(&tracking_number, id);
        let _ = shared.events.sync(&tracking_number).await;
    }
    closing.token.cancel();
    let _ = writer.await;
    metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

/// The reader's view of its client, for handling one message.
struct Client<'a> {
    shared: &'a Shared,
    id: ClientId,
    handle: &'a ClientHandle,
    outbox: &'a mpsc::Sender<Outgoing>,
}

fn error(message: impl Into<String>) -> Option<String> {
    Some(serde_json::json!({ "type": "error", "error": message.into() }).to_string())
}

impl Client<'_> {
    /// Handles one text frame; returns the reply to send, if any (a replay
    /// sends its own, in order with the replayed events).
    async fn handle_text(&self, subscriptions: &mut HashSet<String>, text: &str) -> Option<String> {
        let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
            return error(
                "expected {\"type\": \"subscribe\"|\"unsubscribe\", \"tracking_number\": \"...\", \"since_seq\"?: N}",
            );
        };
        let Some(raw) = message.tracking_number else {
            return error("tracking_number is required");
        };
        let tracking_number = match TrackingNumber::parse(&raw) {
            Ok(tn) => tn,
            Err(e) => return error(e.to_string()),
        };
        let tn = tracking_number.as_str();
        match message.r#type.as_str() {
            "subscribe" => self.subscribe(subscriptions, tn, message.since_seq).await,
            "unsubscribe" => {
                self.unwatch(subscriptions, tn).await;
                Some(
                    serde_json::json!({ "type": "unsubscribed", "tracking_number": tn })
                        .to_string(),
                )
            }
            other => error(format!(
                "unknown message type {other:?}; expected subscribe or unsubscribe"
            )),
        }
    }

    async fn subscribe(
        &self,
        subscriptions: &mut HashSet<String>,
        tn: &str,
        since_seq: Option<i64>,
    ) -> Option<String> {
        let shared = self.shared;
        if since_seq.is_some_and(|n| n < 0) {
            return error("since_seq must be 0 or more");
        }
        if !subscriptions.contains(tn) && subscriptions.len() >= shared.limits.max_subscriptions {
            return error(format!(
                "at most {} subscriptions per connection",
                shared.limits.max_subscriptions
            ));
        }
        let exists: Result<Option<i32>, _> =
            sqlx::query_scalar("SELECT 1 FROM packages WHERE tracking_number = $1")
                .bind(tn)
                .fetch_optional(&shared.pool)
                .await;
        match exists {
            Ok(Some(_)) => {}
            Ok(None) => return error(format!("package {tn} not found")),
            Err(e) => {
                tracing::warn!(%e, "package lookup failed");
                return error("package lookup unavailable, retry later");
            }
        }
        // Hold the package's live events from before they can arrive until the
        // writer knows where this client's sequence starts.
        if !self.enqueue(Outgoing::Hold(tn.to_owned())).await {
            return None;
        }
        shared.hub.subscribe(tn, self.id, self.handle.clone());
        if let Err(e) = shared.events.sync(tn).await {
            shared.hub.unsubscribe(tn, self.id);
            self.enqueue(Outgoing::Forget(tn.to_owned())).await;
            return error(e.to_string());
        }
        if subscriptions.insert(tn.to_owned()) {
            shared
                .hub
                .metrics
                .subscriptions
                .fetch_add(1, Ordering::Relaxed);
        }
        // Without since_seq the client starts after the last event numbered
        // now, read after binding: anything later is sure to arrive live.
        let next = match since_seq {
            Some(after) => after + 1,
            None => {
                let current: Result<i64, _> =
                    sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
                        .bind(tn)
                        .fetch_one(&shared.pool)
                        .await;
                match current {
                    Ok(seq) => seq + 1,
                    Err(e) => {
                        tracing::warn!(%e, "sequence lookup failed");
                        self.unwatch(subscriptions, tn).await;
                        return error("package lookup unavailable, retry later");
                    }
                }
            }
        };
        let ack = serde_json::json!({ "type": "subscribed", "tracking_number": tn }).to_string();
        self.enqueue(Outgoing::Reply(Utf8Bytes::from(ack))).await;
        self.enqueue(Outgoing::Start {
            tracking_number: tn.to_owned(),
            next,
        })
        .await;
        let Some(after) = since_seq else { return None };
        match crate::replay::since(&shared.pool, &shared.history, tn, after).await {
            Ok(events) => {
                for event in events {
                    let text = Utf8Bytes::from(event.text);
                    if !self
                        .enqueue(Outgoing::Replayed {
                            tracking_number: tn.to_owned(),
                            seq: event.seq,
                            text,
                        })
                        .await
                    {
                        break;
                    }
                }
                None
            }
            Err(e) => {
                tracing::warn!(%e, "replay failed");
                error("missed events unavailable; live updates continue, retry since_seq later")
            }
        }
    }

    async fn unwatch(&self, subscriptions: &mut HashSet<String>, tn: &str) {
        if subscriptions.remove(tn) {
            self.shared
                .hub
                .metrics
                .subscriptions
                .fetch_sub(1, Ordering::Relaxed);
            self.shared.hub.unsubscribe(tn, self.id);
            let _ = self.shared.events.sync(tn).await;
        }
        self.enqueue(Outgoing::Forget(tn.to_owned())).await;
    }

    /// Queues for the writer, waiting for room (only this client waits).
    async fn enqueue(&self, outgoing: Outgoing) -> bool {
        self.outbox.send(outgoing).await.is_ok()
    }
}

/// A frame to write, and for live events when they happened.
type Frame = (Utf8Bytes, Option<chrono::DateTime<chrono::Utc>>);

/// What to write for one outbox item; `Err` when too much is held back.
fn accept(ordering: &mut PackageOrder<Frame>, outgoing: Outgoing) -> Result<Vec<Frame>, Overflow> {
    let mut out = Vec::new();
    match outgoing {
        Outgoing::Reply(text) => out.push((text, None)),
        Outgoing::Hold(tn) => ordering.hold(&tn),
        Outgoing::Start {
            tracking_number,
            next,
        } => ordering.start(&tracking_number, next, &mut out)?,
        Outgoing::Forget(tn) => ordering.forget(&tn),
        Outgoing::Replayed {
            tracking_number,
            seq,
            text,
        } => ordering.offer(&tracking_number, seq, (text, None), &mut out)?,
        Outgoing::Live {
            tracking_number,
            seq,
            text,
            occurred_at,
        } => ordering.offer(&tracking_number, seq, (text, Some(occurred_at)), &mut out)?,
    }
    Ok(out)
}

/// Owns the sending half: outbox messages, heartbeats, and the close frame.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    mut inbox: mpsc::Receiver<Outgoing>,
    closing: Closing,
    ping_interval: Duration,
    hold_limit: usize,
    hub: Arc<Hub>,
) {
    const SEND_TIMEOUT: Duration = Duration::from_secs(10);
    let mut ping = tokio::time::interval(ping_interval);
    ping.tick().await;
    let mut ordering = PackageOrder::new(hold_limit);
    let mut gap_check = tokio::time::interval(Duration::from_millis(500));
    'writing: loop {
        let frames = tokio::select! {
            biased;
            _ = closing.token.cancelled() => break,
            next = inbox.recv() => match next {
                Some(outgoing) => match accept(&mut ordering, outgoing) {
                    Ok(frames) => frames.into_iter().map(|(text, at)| (Message::Text(text), at)).collect(),
                    Err(Overflow) => {
                        closing.close(CloseCode::Policy, TOO_SLOW);
                        break;
                    }
                },
                None => break,
            },
            _ = ping.tick() => vec![(Message::Ping(Default::default()), None)],
            _ = gap_check.tick() => {
                let mut out = Vec::new();
                ordering.expire_gaps(Instant::now(), &mut out);
                out.into_iter().map(|(text, at)| (Message::Text(text), at)).collect()
            }
        };
        for (message, occurred_at) in frames {
            let sent = tokio::select! {
                _ = closing.token.cancelled() => break 'writing,
                sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(message)) => sent,
            };
            match sent {
                Ok(Ok(())) => {
                    if let Some(occurred_at) = occurred_at {
                        hub.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                        hub.metrics.record_delay(occurred_at);
                    }
                }
                Ok(Err(_)) => return,
                Err(_) => {
                    closing.close(CloseCode::Policy, "client too slow: send timed out");
                    break 'writing;
                }
            }
        }
    }
    let frame = closing.frame().unwrap_or(CloseFrame {
        code: CloseCode::Normal,
        reason: Utf8Bytes::from_static("bye"),
    });
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}
