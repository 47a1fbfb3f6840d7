//! A WebSocket client for the broadcaster's protocol.

use crate::app::WAIT;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where to connect, and as whom: a URL, and the access token sent as
/// `Authorization: Bearer` (none for `/ws/public`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub token: Option<String>,
}

impl Endpoint {
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            url: url.to_owned(),
            token: Some(token.to_owned()),
        }
    }

    /// The upgrade request, with the token's header.
    pub fn request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        match &self.token {
            Some(token) => request_with(&self.url, token),
            None => self
                .url
                .as_str()
                .into_client_request()
                .expect("a WebSocket URL"),
        }
    }
}

impl From<&str> for Endpoint {
    fn from(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            token: None,
        }
    }
}

impl From<&String> for Endpoint {
    fn from(url: &String) -> Self {
        url.as_str().into()
    }
}

impl From<&Endpoint> for Endpoint {
    fn from(endpoint: &Endpoint) -> Self {
        endpoint.clone()
    }
}

pub async fn connect(endpoint: impl Into<Endpoint>) -> Client {
    tokio_tungstenite::connect_async(endpoint.into().request())
        .await
        .expect("WebSocket connects")
        .0
}

/// The upgrade request for `url` with `Authorization: Bearer <token>`.
pub fn request_with(
    url: &str,
    token: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header value"),
    );
    request
}

/// Connects with `Authorization: Bearer <token>`.
pub async fn connect_with(url: &str, token: &str) -> Client {
    tokio_tungstenite::connect_async(request_with(url, token))
        .await
        .expect("WebSocket connects")
        .0
}

pub async fn send(client: &mut Client, message: Value) {
    client
        .send(Message::text(message.to_string()))
        .await
        .expect("send a frame");
}

/// What a client heard within a wait.
#[derive(Debug)]
pub enum Heard {
    /// A JSON text message.
    Json(Value),
    /// Nothing but heartbeats: the connection is open and stayed silent.
    Silence,
    /// The server closed the connection (with its close frame, if it sent one).
    Closed(Option<CloseFrame>),
    /// The connection failed, or the server sent text that is not JSON.
    Broken(String),
}

/// The next thing heard within `timeout`, skipping heartbeats.
pub async fn next_heard(client: &mut Client, timeout: Duration) -> Heard {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, client.next()).await {
            Err(_) => return Heard::Silence,
            Ok(None) => return Heard::Closed(None),
            Ok(Some(Err(error))) => return Heard::Broken(error.to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            Message::Text(text) => {
                return match serde_json::from_str(&text) {
                    Ok(value) => Heard::Json(value),
                    Err(error) => Heard::Broken(format!("not JSON ({error}): {text}")),
                }
            }
            Message::Close(frame) => return Heard::Closed(frame),
            _ => continue,
        }
    }
}

/// The next JSON text message, skipping heartbeats; `None` only when the
/// connection stayed open and silent for `timeout`. A close, a failure or
/// text that is not JSON panics: a "hears nothing" check must not pass
/// because the connection died. Tests that expect a close use
/// [`next_heard`] or [`close_frame`].
pub async fn next_json(client: &mut Client, timeout: Duration) -> Option<Value> {
    match next_heard(client, timeout).await {
        Heard::Json(value) => Some(value),
        Heard::Silence => None,
        other => panic!("expected a message or silence, the connection gave {other:?}"),
    }
}

/// Asserts that the connection stays open and silent for `quiet`.
pub async fn hears_nothing(client: &mut Client, quiet: Duration) {
    match next_heard(client, quiet).await {
        Heard::Silence => {}
        other => panic!("expected silence on an open connection, got {other:?}"),
    }
}

/// Reads until the server's close frame (None if the stream ends without one).
pub async fn close_frame(client: &mut Client) -> Option<CloseFrame> {
    tokio::time::timeout(WAIT, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the connection closes in time")
}

/// Subscribes and insists on the `subscribed` answer.
pub async fn subscribe(client: &mut Client, tracking_number: &str) {
    send(
        client,
        json!({"type": "subscribe", "tracking_number": tracking_number}),
    )
    .await;
    let ack = next_json(client, WAIT)
        .await
        .expect("an answer to subscribe");
    assert_eq!(
        ack,
        json!({"type": "subscribed", "tracking_number": tracking_number})
    );
}
