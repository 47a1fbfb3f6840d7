//! Real WebSocket clients against the real pipeline: ingest → RabbitMQ →
//! workers → events exchange → broadcaster.

use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::ws::{self, close_frame, connect, next_json, send, subscribe};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

#[tokio::test]
async fn a_subscriber_sees_every_change_in_order_exactly_once() {
    let mut system = TestApp::spawn().await;
    let testkit::app::Broadcaster { url, hub, .. } = system.broadcaster(|_| {}).await;
    let tn = tracking_number();
    system.created(&tn).await;
    let mut client = connect(&url).await;
    subscribe(&mut client, &tn).await;

    system.status_changed(&tn, json!({"status": "in_transit", "location": "Newark Distribution Center", "latitude": 40.7357, "longitude": -74.1724})).await;
    system
        .status_changed(&tn, json!({"status": "out_for_delivery"}))
        .await;
    system
        .status_changed(
            &tn,
            json!({"status": "delivered", "location": "Front door"}),
        )
        .await;

    let mut statuses = Vec::new();
    let mut locations = 0;
    let mut seqs = Vec::new();
    while let Some(update) = next_json(&mut client, Duration::from_secs(3)).await {
        seqs.push(update["seq"].as_i64().unwrap());
        assert_eq!(update["type"], "package_update");
        assert_eq!(update["tracking_number"], tn.as_str());
        match update["kind"].as_str().unwrap() {
            "status_changed" => statuses.push((
                update["data"]["status"].as_str().unwrap().to_owned(),
                update["seq"].as_i64().unwrap(),
            )),
            "location" => {
                locations += 1;
                assert_eq!(update["data"]["latitude"], 40.7357);
            }
            other => panic!("unexpected kind {other}"),
        }
        if statuses.len() == 3 && locations == 1 {
            break;
        }
    }
    let names: Vec<&str> = statuses.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        names,
        ["in_transit", "out_for_delivery", "delivered"],
        "status changes in order"
    );
    assert!(statuses.windows(2).all(|w| w[0].1 < w[1].1), "{statuses:?}");
    // Creation is 1; the three changes and the point take 2 to 5, and arrive
    // in exactly that order although they come through two worker pools.
    assert_eq!(seqs, [2, 3, 4, 5], "every event once, in seq order, no gap");
    assert_eq!(
        locations, 1,
        "the status update's coordinates arrive as a location update"
    );
    assert!(
        next_json(&mut client, Duration::from_millis(700))
            .await
            .is_none(),
        "nothing twice"
    );

    let counted = hub.metrics.snapshot();
    assert_eq!((counted.connections, counted.subscriptions), (1, 1));
    assert_eq!(
        counted.delivered, 4,
        "three status changes and one location"
    );
    assert_eq!(counted.delay_count, 4);
    assert!(
        counted.delay_max_us > 0 && counted.delay_max_us < 10_000_000,
        "{counted:?}"
    );
    drop(client);
    testkit::eventually(WAIT, "the connection to be counted out", || async {
        let now = hub.metrics.snapshot();
        (now.connections == 0 && now.subscriptions == 0).then_some(())
    })
    .await;
    system.shutdown().await;
}

#[tokio::test]
async fn a_client_hears_only_its_own_packages_and_instances_serve_their_own_clients() {
    let mut system = TestApp::spawn().await;
    let first_url = system.broadcaster(|_| {}).await.url;
    let second_url = system.broadcaster(|_| {}).await.url;
    let (a, b) = (tracking_number(), tracking_number());
    system.created(&a).await;
    system.created(&b).await;
    let mut watches_a = connect(&first_url).await;
    let mut watches_b = connect(&second_url).await;
    subscribe(&mut watches_a, &a).await;
    subscribe(&mut watches_b, &b).await;

    system
        .status_changed(&b, json!({"status": "in_transit"}))
        .await;
    system
        .status_changed(&a, json!({"status": "cancelled"}))
        .await;

    let to_a = next_json(&mut watches_a, WAIT).await.expect("A's update");
    assert_eq!(to_a["tracking_number"], a.as_str());
    assert_eq!(to_a["data"]["status"], "cancelled");
    let to_b = next_json(&mut watches_b, WAIT).await.expect("B's update");
    assert_eq!(to_b["tracking_number"], b.as_str());
    assert_eq!(to_b["data"]["status"], "in_transit");
    assert!(
        next_json(&mut watches_a, Duration::from_millis(500))
            .await
            .is_none(),
        "A hears nothing of B"
    );
    assert!(
        next_json(&mut watches_b, Duration::from_millis(500))
            .await
            .is_none(),
        "B hears nothing of A"
    );

    // After unsubscribing, nothing more arrives.
    send(
        &mut watches_b,
        json!({"type": "unsubscribe", "tracking_number": b}),
    )
    .await;
    assert_eq!(
        next_json(&mut watches_b, WAIT).await.unwrap()["type"],
        "unsubscribed"
    );
    system
        .status_changed(&b, json!({"status": "out_for_delivery"}))
        .await;
    assert!(next_json(&mut watches_b, Duration::from_millis(700))
        .await
        .is_none());
    system.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_errors_not_crashes() {
    let mut system = TestApp::spawn().await;
    let url = system.broadcaster(|_| {}).await.url;
    let mut client = connect(&url).await;
    for (message, expected) in [
        (json!("not an object").to_string(), "expected"),
        ("{oops".to_owned(), "expected"),
        (
            json!({"type": "subscribe"}).to_string(),
            "tracking_number is required",
        ),
        (
            json!({"type": "subscribe", "tracking_number": "a.b"}).to_string(),
            "tracking_number",
        ),
        (
            json!({"type": "subscribe", "tracking_number": "TRKUNKNOWN0"}).to_string(),
            "not found",
        ),
        (
            json!({"type": "dance", "tracking_number": "TRKUNKNOWN0"}).to_string(),
            "unknown message type",
        ),
    ] {
        client.send(Message::text(message)).await.unwrap();
        let reply = next_json(&mut client, WAIT).await.expect("an error reply");
        assert_eq!(reply["type"], "error");
        assert!(
            reply["error"].as_str().unwrap().contains(expected),
            "{reply}"
        );
    }
    // The subscription cap (3 in these tests).
    for _ in 0..3 {
        let tn = tracking_number();
        system.created(&tn).await;
        subscribe(&mut client, &tn).await;
    }
    let fourth = tracking_number();
    system.created(&fourth).await;
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": fourth}),
    )
    .await;
    assert!(next_json(&mut client, WAIT).await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("at most 3"));

    // An oversized frame closes the connection with a reason; the server lives on.
    client
        .send(Message::text("x".repeat(10_000)))
        .await
        .unwrap();
    let closed = close_frame(&mut client).await;
    let closed = closed.expect("a close frame with a reason");
    assert_eq!(closed.code, CloseCode::Size);
    let mut again = connect(&url).await;
    send(
        &mut again,
        json!({"type": "subscribe", "tracking_number": "TRKUNKNOWN0"}),
    )
    .await;
    assert_eq!(next_json(&mut again, WAIT).await.unwrap()["type"], "error");
    assert!(
        tokio_tungstenite::connect_async(url.url.replace("/ws", "/other"))
            .await
            .is_err(),
        "only /ws upgrades"
    );
    system.shutdown().await;
}

#[tokio::test]
async fn on_shutdown_every_client_gets_a_close_frame() {
    let mut system = TestApp::spawn().await;
    let testkit::app::Broadcaster { url, stop, .. } = system.broadcaster(|_| {}).await;
    let mut clients = vec![connect(&url).await, connect(&url).await];
    stop.cancel();
    for client in &mut clients {
        let frame = close_frame(client).await.expect("a close frame");
        assert_eq!(frame.code, CloseCode::Away);
        assert_eq!(frame.reason.as_str(), "server shutting down");
    }
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_dropped_while_a_healthy_one_keeps_receiving() {
    let mut system = TestApp::spawn().await;
    // Small kernel buffers on both sides, so a client that stops reading stalls
    // after a few dozen buffered frames instead of megabytes. Each posted
    // batch reaches the broadcaster as about one event (the location pool
    // announces a window's points of a package together): an outbox of four
    // events is plenty for a client that reads, and soon full for one that
    // does not.
    let testkit::app::Broadcaster {
        url, base_url, hub, ..
    } = system
        .broadcaster(|c| {
            c.client_queue = 4;
            c.send_buffer_bytes = Some(4096);
        })
        .await;
    let tn = tracking_number();
    system.created(&tn).await;
    let mut healthy = connect(&url).await;
    subscribe(&mut healthy, &tn).await;
    let mut stalled = small_buffered(&url, &base_url, &tn).await;
    const POINTS: usize = 1500;
    let points: Vec<Value> = (0..POINTS)
        .map(|i| json!({"tracking_number": tn, "latitude": 10.0 + i as f64 / 1000.0, "longitude": 20.0, "address": "x".repeat(200)}))
        .collect();
    // The healthy client reads as it should, from before the first point.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        let mut last_seq = 0;
        while received < POINTS {
            match next_json(&mut healthy, WAIT).await {
                Some(update) if update["kind"] == "location" => {
                    let seq = update["seq"].as_i64().unwrap();
                    assert_eq!(
                        seq,
                        last_seq.max(1) + 1,
                        "consecutive seqs across concurrent batches"
                    );
                    last_seq = seq;
                    received += 1;
                }
                _ => break,
            }
        }
        received
    });
    // Steady traffic rather than one burst: the healthy client keeps up with
    // it, the stalled one falls further behind with every batch.
    for batch in points.chunks(100) {
        let response = system
            .http
            .post(format!("{}/locations", system.base))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reader.await.unwrap(),
        POINTS,
        "the healthy client received every update"
    );
    assert_eq!(
        hub.metrics.snapshot().dropped_slow,
        1,
        "exactly the stalled client was dropped"
    );
    // The stalled client, reading at last, finds its stream cut short.
    let late = cut_short(&mut stalled).await;
    assert!(
        late < POINTS,
        "the stalled client was disconnected ({late} of {POINTS} delivered)"
    );
    system.shutdown().await;
}

/// A client on a socket with a small receive buffer, subscribed to `tn`.
async fn small_buffered(url: &ws::Endpoint, base_url: &str, tn: &str) -> ws::Client {
    let address = base_url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let (mut stalled, _) =
        tokio_tungstenite::client_async(url.request(), MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    send(
        &mut stalled,
        json!({"type": "subscribe", "tracking_number": tn}),
    )
    .await;
    assert_eq!(
        next_json(&mut stalled, WAIT).await.unwrap()["type"],
        "subscribed"
    );
    stalled
}

/// Reads what a dropped client still gets: updates, then the end of its
/// connection (not silence); how many updates came.
async fn cut_short(stalled: &mut ws::Client) -> usize {
    let mut late = 0;
    let end = loop {
        match testkit::ws::next_heard(stalled, Duration::from_secs(3)).await {
            testkit::ws::Heard::Json(update) => {
                assert_eq!(update["type"], "package_update");
                late += 1;
            }
            end => break end,
        }
    };
    assert!(
        matches!(
            end,
            testkit::ws::Heard::Closed(_) | testkit::ws::Heard::Broken(_)
        ),
        "the stalled client's connection is ended, not left open: {end:?}"
    );
    late
}

#[tokio::test]
async fn a_client_that_reconnects_with_since_seq_gets_exactly_what_it_missed_then_live() {
    let mut system = TestApp::spawn().await;
    let url = system.broadcaster(|_| {}).await.url;
    let tn = tracking_number();
    system.created(&tn).await; // seq 1
    let mut first = connect(&url).await;
    subscribe(&mut first, &tn).await;
    system
        .status_changed(&tn, json!({"status": "in_transit"}))
        .await; // seq 2
    let seen = next_json(&mut first, WAIT).await.expect("a live update");
    assert_eq!(seen["seq"], 2);
    drop(first);

    // Missed while disconnected: a status change (3) and a location point (4).
    system
        .status_changed(&tn, json!({"status": "out_for_delivery"}))
        .await;
    point_stored(&system, &tn).await;
    let mut again = connect(&url).await;
    send(
        &mut again,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 2}),
    )
    .await;
    assert_eq!(
        next_json(&mut again, WAIT).await.unwrap(),
        json!({"type": "subscribed", "tracking_number": tn})
    );
    let missed_status = next_json(&mut again, WAIT)
        .await
        .expect("the missed status change");
    assert_eq!(
        (
            missed_status["seq"].as_i64(),
            missed_status["data"]["status"].as_str()
        ),
        (Some(3), Some("out_for_delivery"))
    );
    let missed_point = next_json(&mut again, WAIT)
        .await
        .expect("the missed location");
    assert_eq!(
        (missed_point["seq"].as_i64(), missed_point["kind"].as_str()),
        (Some(4), Some("location"))
    );
    assert_eq!(missed_point["data"]["location"], "Corner");

    system
        .status_changed(&tn, json!({"status": "delivered"}))
        .await; // seq 5, live
    let live = next_json(&mut again, WAIT)
        .await
        .expect("the live update after the replay");
    assert_eq!(
        (live["seq"].as_i64(), live["data"]["status"].as_str()),
        (Some(5), Some("delivered"))
    );
    assert!(
        next_json(&mut again, Duration::from_millis(700))
            .await
            .is_none(),
        "no duplicate"
    );

    // From the start: everything, creation included, in seq order.
    assert_eq!(all_from_the_start(&url, &tn).await, [1, 2, 3, 4, 5]);
    system.shutdown().await;
}

/// Posts a point, and waits until the history holds it.
async fn point_stored(system: &TestApp, tn: &str) {
    let point = json!({"latitude": 40.7, "longitude": -74.0, "address": "Corner"});
    let posted = system
        .http
        .post(format!("{}/packages/{tn}/locations", system.base))
        .json(&point)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    testkit::eventually(WAIT, "the point stored", || async {
        let items: Vec<Value> = system
            .http
            .get(format!("{}/packages/{tn}/locations", system.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (items.len() == 1).then_some(())
    })
    .await;
}

/// The seqs a new subscriber from `since_seq` 0 hears.
async fn all_from_the_start(url: &ws::Endpoint, tn: &str) -> Vec<i64> {
    let mut fresh = connect(url).await;
    send(
        &mut fresh,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 0}),
    )
    .await;
    assert_eq!(
        next_json(&mut fresh, WAIT).await.unwrap()["type"],
        "subscribed"
    );
    let mut seqs = Vec::new();
    while let Some(update) = next_json(&mut fresh, Duration::from_millis(700)).await {
        seqs.push(update["seq"].as_i64().unwrap());
    }
    seqs
}

#[tokio::test]
async fn a_silent_client_is_closed_for_idleness_and_connections_are_capped() {
    let mut system = TestApp::spawn().await;
    let testkit::app::Broadcaster { url, hub, .. } = system
        .broadcaster(|c| {
            c.max_connections = 2;
            c.ping_interval = Duration::from_millis(200);
            c.idle_timeout = Duration::from_millis(800);
        })
        .await;

    let mut first = connect(&url).await;
    let second = connect(&url).await;
    testkit::eventually(WAIT, "both connections counted", || async {
        (hub.metrics.snapshot().connections == 2).then_some(())
    })
    .await;
    assert!(
        tokio_tungstenite::connect_async(url.request())
            .await
            .is_err(),
        "a third connection is refused"
    );
    drop(second);
    testkit::eventually(WAIT, "the freed slot", || async {
        (hub.metrics.snapshot().connections == 1).then_some(())
    })
    .await;

    // Not reading means not answering the server's pings: the server closes
    // the connection on its own. (The close frame may be lost to the client:
    // its automatic pong replies hit the closed socket first.)
    testkit::eventually(WAIT, "the idle client closed by the server", || async {
        (hub.metrics.snapshot().connections == 0).then_some(())
    })
    .await;
    if let Some(frame) = close_frame(&mut first).await {
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (CloseCode::Policy, "idle timeout")
        );
    }
    let mut third = connect(&url).await;
    send(
        &mut third,
        json!({"type": "subscribe", "tracking_number": "TRKUNKNOWN0"}),
    )
    .await;
    assert_eq!(
        next_json(&mut third, WAIT).await.unwrap()["type"],
        "error",
        "the slot is usable again"
    );
    system.shutdown().await;
}
