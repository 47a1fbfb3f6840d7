//! Connection slots a stranger cannot take from everyone else: a network's
//! share is counted when its socket is accepted, before anything is read;
//! health and metrics live on their own listener; an account holds a few
//! WebSockets at most; and a WebSocket's requests come at a steady rate.

use serde_json::json;
use shared::auth::Role;
use std::net::SocketAddr;
use std::time::Duration;
use testkit::app::{Options, TestApp, WAIT};
use testkit::ws::{self, close_frame, next_json, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A connection from `source` (any 127.x address is this machine).
async fn connect_from(source: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    socket.connect(to).await.expect("connect")
}

/// Whether the server answers a request on this connection (or closes it
/// unread).
async fn answers(mut stream: tokio::net::TcpStream, request: &str) -> bool {
    let _ = stream.write_all(request.as_bytes()).await;
    let mut buffer = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await,
        Ok(Ok(n)) if n > 0
    )
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const HEALTH: &str = "GET /api/v1/health/live HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn one_network_cannot_hold_ingests_connection_slots() {
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.max_connections = 3;
        c.max_connections_per_address = 2;
    }))
    .await;
    let ingest = addr_of(&app.base);
    // Two idle connections from 127.0.0.9: its whole share.
    let _held = [
        connect_from([127, 0, 0, 9], ingest).await,
        connect_from([127, 0, 0, 9], ingest).await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = connect_from([127, 0, 0, 9], ingest).await;
    assert!(
        !answers(third, HEALTH).await,
        "a third from the same network is closed unread"
    );
    // Another network still gets the last slot.
    let other = connect_from([127, 0, 0, 10], ingest).await;
    assert!(answers(other, HEALTH).await, "another network is served");
    app.shutdown().await;
}

#[tokio::test]
async fn the_broadcaster_caps_a_network_at_accept_and_serves_health_apart() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|c| {
            c.per_address = 2;
            c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
    let public = addr_of(&broadcaster.base_url);
    let _held = [
        connect_from([127, 0, 0, 11], public).await,
        connect_from([127, 0, 0, 11], public).await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let upgrade = "GET /ws/public HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let third = connect_from([127, 0, 0, 11], public).await;
    assert!(
        !answers(third, upgrade).await,
        "closed before anything is read"
    );
    // Health and metrics are on the operations listener, which no public
    // cap counts.
    let ops = broadcaster.ops.expect("an operations listener");
    let health = reqwest::get(format!("http://{ops}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{ops}/metrics")).await.unwrap();
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("delivertrack_broadcaster_connections"));
    app.shutdown().await;
}

#[tokio::test]
async fn an_account_holds_a_few_websockets_at_most() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|c| c.per_account = 2).await;
    let dispatcher = app.caller(Role::Dispatcher).await;
    let endpoint = ws::Endpoint::new(&broadcaster.base_url, &app.env.token(&dispatcher));
    let mut first = ws::connect(&endpoint).await;
    let mut second = ws::connect(&endpoint).await;
    // The two are live (each answered, so each holds its place: a handshake
    // alone does not say the server counted it yet); a third is closed at
    // once, saying why.
    for live in [&mut first, &mut second] {
        send(
            live,
            json!({"type": "subscribe", "tracking_number": "TRK0NOTHING1"}),
        )
        .await;
        assert_eq!(
            next_json(live, WAIT).await.expect("an answer")["type"],
            "error"
        );
    }
    let mut third = ws::connect(&endpoint).await;
    let frame = close_frame(&mut third).await.expect("a close frame");
    assert_eq!(
        frame.reason.as_str(),
        "too many connections for this account"
    );
    // Another account is not held back by it.
    let mut theirs = ws::connect(&broadcaster.url).await;
    send(
        &mut theirs,
        json!({"type": "subscribe", "tracking_number": "TRK0NOTHING1"}),
    )
    .await;
    assert_eq!(
        next_json(&mut theirs, WAIT).await.expect("an answer")["type"],
        "error"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_websocket_gets_a_burst_of_requests_then_a_steady_rate() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|c| {
            c.requests_burst = 5;
            c.requests_per_second = 1.0;
        })
        .await;
    let mut socket = ws::connect(&broadcaster.url).await;
    let mut answers = Vec::new();
    for n in 0..7 {
        send(
            &mut socket,
            json!({"type": "unsubscribe", "tracking_number": format!("TRK0RATE{n:04}")}),
        )
        .await;
        let answer = next_json(&mut socket, WAIT).await.expect("an answer");
        answers.push(answer["type"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(&answers[..5], ["unsubscribed"; 5], "{answers:?}");
    assert_eq!(&answers[5..], ["error", "error"], "{answers:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(
        &mut socket,
        json!({"type": "unsubscribe", "tracking_number": "TRK0RATE9999"}),
    )
    .await;
    assert_eq!(
        next_json(&mut socket, WAIT).await.expect("an answer")["type"],
        "unsubscribed",
        "refilled"
    );
    app.shutdown().await;
}
