//! One WebSocket client.
//!
//! The reader (this task) handles the client's frames; a writer task owns the
//! socket's sending half and drains a bounded outbox, so a client that stops
//! reading fills only its own outbox and is then closed as too slow. Either
//! side ends the connection through `closing`, with a close frame saying why.

use crate::events::Events;
use crate::hub::{ClientHandle, ClientId, Hub, Outgoing};
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
    pub limits: Limits,
}

#[derive(Deserialize)]
struct ClientMessage {
    r#type: String,
    tracking_number: Option<String>,
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
                closing.close(CloseCode::Policy, "client too slow: outgoing queue full");
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
                        let reply = handle_text(&shared, id, &handle, &mut subscriptions, &text).await;
                        if outbox.try_send(Outgoing { text: Utf8Bytes::from(reply), occurred_at: None }).is_err() {
                            closing.close(CloseCode::Policy, "client too slow: outgoing queue full");
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

async fn handle_text(
    shared: &Shared,
    id: ClientId,
    handle: &ClientHandle,
    subscriptions: &mut HashSet<String>,
    text: &str,
) -> String {
    let error =
        |message: String| serde_json::json!({ "type": "error", "error": message }).to_string();
    let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
        return error(
            "expected {\"type\": \"subscribe\"|\"unsubscribe\", \"tracking_number\": \"...\"}"
                .into(),
        );
    };
    let Some(raw) = message.tracking_number else {
        return error("tracking_number is required".into());
    };
    let tracking_number = match TrackingNumber::parse(&raw) {
        Ok(tn) => tn,
        Err(e) => return error(e.to_string()),
    };
    let tn = tracking_number.as_str();
    match message.r#type.as_str() {
        "subscribe" => {
            if !subscriptions.contains(tn) && subscriptions.len() >= shared.limits.max_subscriptions
            {
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
                    return error("package lookup unavailable, retry later".into());
                }
            }
            shared.hub.subscribe(tn, id, handle.clone());
            if let Err(e) = shared.events.sync(tn).await {
                shared.hub.unsubscribe(tn, id);
                return error(e.to_string());
            }
            if subscriptions.insert(tn.to_owned()) {
                shared
                    .hub
                    .metrics
                    .subscriptions
                    .fetch_add(1, Ordering::Relaxed);
            }
            serde_json::json!({ "type": "subscribed", "tracking_number": tn }).to_string()
        }
        "unsubscribe" => {
            if subscriptions.remove(tn) {
                shared
                    .hub
                    .metrics
                    .subscriptions
                    .fetch_sub(1, Ordering::Relaxed);
                shared.hub.unsubscribe(tn, id);
                let _ = shared.events.sync(tn).await;
            }
            serde_json::json!({ "type": "unsubscribed", "tracking_number": tn }).to_string()
        }
        other => error(format!(
            "unknown message type {other:?}; expected subscribe or unsubscribe"
        )),
    }
}

/// Owns the sending half: outbox messages, heartbeats, and the close frame.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    mut inbox: mpsc::Receiver<Outgoing>,
    closing: Closing,
    ping_interval: Duration,
    hub: Arc<Hub>,
) {
    const SEND_TIMEOUT: Duration = Duration::from_secs(10);
    let mut ping = tokio::time::interval(ping_interval);
    ping.tick().await;
    loop {
        let (message, occurred_at) = tokio::select! {
            biased;
            _ = closing.token.cancelled() => break,
            next = inbox.recv() => match next {
                Some(outgoing) => (Message::Text(outgoing.text), outgoing.occurred_at),
                None => break,
            },
            _ = ping.tick() => (Message::Ping(Default::default()), None),
        };
        let sent = tokio::select! {
            _ = closing.token.cancelled() => break,
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
                break;
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
