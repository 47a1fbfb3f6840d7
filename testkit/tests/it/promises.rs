//! Promises the README makes that no other file tests: checkpoint scans,
//! the public replay limit, per-address limits end to end, a reused
//! idempotency key on an asynchronous write, and the broadcaster's exit on
//! SIGTERM.

use serde_json::{json, Value};
use shared::wire::{Event, PackageEvent};
use std::time::Duration;
use testkit::app::{expect_error, tracking_number, Options, TestApp, WAIT};
use testkit::services::Process;
use testkit::ws;
use testkit::{eventually, TestEnv};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn checkpoint_scans_keep_the_status_and_record_every_scan() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let scans = [
        ("in_transit", "Newark hub"),
        ("in_transit", "Edison depot"),
        ("out_for_delivery", "Van 12"),
        ("out_for_delivery", "Van 12, second round"),
    ];
    for (status, location) in scans {
        let changed = app
            .put_json(
                &format!("/packages/{tn}/status"),
                &json!({"status": status, "location": location}),
            )
            .await;
        assert_eq!(changed.status(), 200, "{status} at {location}");
        let package = json_of(changed).await;
        assert_eq!(package["status"], status);
    }
    let events = json_of(app.get(&format!("/packages/{tn}/events")).await).await;
    let recorded: Vec<(String, String)> = events
        .as_array()
        .expect("a list of events")
        .iter()
        .filter(|e| e["location"].is_string())
        .map(|e| {
            (
                e["status"].as_str().unwrap_or_default().to_owned(),
                e["location"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = scans
        .iter()
        .map(|(s, l)| ((*s).to_owned(), (*l).to_owned()))
        .collect();
    assert_eq!(
        recorded, expected,
        "every scan recorded, in order: {events}"
    );
    // A checkpoint is a scan on the way, not a repeat of any status.
    let delivered = app
        .put_json(
            &format!("/packages/{tn}/status"),
            &json!({"status": "delivered"}),
        )
        .await;
    assert_eq!(delivered.status(), 200);
    let again = app
        .put_json(
            &format!("/packages/{tn}/status"),
            &json!({"status": "delivered"}),
        )
        .await;
    expect_error(again, 409).await;
    let pending = tracking_number();
    app.created(&pending).await;
    let repeated = app
        .put_json(
            &format!("/packages/{pending}/status"),
            &json!({"status": "pending"}),
        )
        .await;
    expect_error(repeated, 409).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_public_since_seq_replays_at_most_the_last_20_events() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let tn = tracking_number();
    app.created(&tn).await;
    let points: Vec<Value> = (0..30)
        .map(|i| {
            json!({"tracking_number": tn, "latitude": 40.0 + f64::from(i) / 100.0, "longitude": -74.0,
                   "recorded_at": (chrono::Utc::now() - chrono::Duration::seconds(60 - i64::from(i))).to_rfc3339()})
        })
        .collect();
    let posted = app.post_json("/locations", &Value::Array(points)).await;
    assert_eq!(posted.status(), 202);
    eventually(WAIT, "the 30 points numbered", || async {
        (app.env.event_seq(&tn).await == 31).then_some(())
    })
    .await;

    // Someone who only has the number: the last 20, not the whole trail.
    let mut public = ws::connect(&broadcaster.public_url()).await;
    ws::send(
        &mut public,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 0}),
    )
    .await;
    let replayed = replayed_seqs(&mut public).await;
    assert_eq!(replayed, (12..=31).collect::<Vec<_>>());
    // A signed-in dispatcher's resume is not cut short.
    let mut dispatcher = ws::connect(&broadcaster.url).await;
    ws::send(
        &mut dispatcher,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 0}),
    )
    .await;
    let replayed = replayed_seqs(&mut dispatcher).await;
    assert_eq!(replayed, (1..=31).collect::<Vec<_>>());
    app.shutdown().await;
}

/// The seqs of the updates a subscribe replays, until the connection has
/// been quiet for a second (it stays open).
async fn replayed_seqs(client: &mut ws::Client) -> Vec<i64> {
    let mut seqs = Vec::new();
    while let Some(message) = ws::next_json(client, Duration::from_secs(1)).await {
        if message["type"] == "package_update" {
            seqs.push(message["seq"].as_i64().expect("a seq"));
        }
    }
    seqs
}

#[tokio::test]
async fn one_address_is_limited_on_every_request_end_to_end() {
    testkit::in_one_minute_window().await;
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.rate_limits.per_address = 5;
    }))
    .await;
    let anonymous = reqwest::Client::new();
    let track = app.url("/track/TRK0NOBODY001");
    for n in 0..5 {
        let answer = anonymous.get(&track).send().await.expect("an answer");
        assert_ne!(answer.status(), 429, "request {n} is within the limit");
    }
    // The sixth from the same address: refused, whoever sends it and
    // whatever it asks.
    let refused = app.get("/packages").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("a header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = expect_error(refused, 429).await;
    assert!(body.contains("too many requests"), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_reused_idempotency_key_on_an_asynchronous_write_becomes_a_rejected_event() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let mut tap = app.env.event_tap().await;
    let put = |status: &str| {
        app.http
            .put(app.url(&format!("/packages/{tn}/status")))
            .header("idempotency-key", "one key, two requests")
            .header("prefer", "respond-async")
            .json(&json!({"status": status}))
            .send()
    };
    let first = put("in_transit").await.expect("an answer");
    assert_eq!(first.status(), 202);
    let first = json_of(first).await;
    // The same key on another request: accepted (the client does not wait;
    // the key names the same event), and its outcome is a refusal, never
    // the first request's outcome.
    let second = put("cancelled").await.expect("an answer");
    assert_eq!(second.status(), 202);
    let second = json_of(second).await;
    assert_eq!(first["event_id"], second["event_id"]);
    let (mut applied, mut refusal) = (false, None);
    while !applied || refusal.is_none() {
        let event = app
            .env
            .next_event(&mut tap, WAIT)
            .await
            .expect("both requests' outcomes");
        if event.event_id.to_string() != second["event_id"] {
            continue;
        }
        match event.body {
            Event::Package(PackageEvent::StatusChanged(_)) => applied = true,
            Event::Package(PackageEvent::CommandRejected {
                tracking_number,
                message,
                ..
            }) => {
                assert_eq!(tracking_number.as_str(), tn);
                refusal = Some(message);
            }
            other => panic!("an unexpected outcome: {other:?}"),
        }
    }
    let refusal = refusal.unwrap_or_default();
    assert!(refusal.contains("Idempotency-Key"), "{refusal}");
    let package = json_of(app.get(&format!("/packages/{tn}")).await).await;
    assert_eq!(
        package["status"], "in_transit",
        "the second request changed nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_broadcaster_exits_0_on_sigterm_and_closes_its_connections() {
    let env = TestEnv::new().await;
    let mut vars = env.service_env();
    vars.push(("BROADCASTER_LISTEN".into(), "127.0.0.1:0".into()));
    let broadcaster = Process::start("broadcaster", &vars, true);
    let url = broadcaster
        .first_line
        .as_deref()
        .and_then(|line| line.rsplit(' ').next())
        .expect("the broadcaster's URL")
        .to_owned();
    let admin = env.account(shared::auth::Role::Admin).await;
    let mut client = ws::connect(&ws::Endpoint::new(&url, &env.token(&admin))).await;
    ws::hears_nothing(&mut client, Duration::from_millis(300)).await;
    let exit = tokio::task::spawn_blocking(move || broadcaster.terminate())
        .await
        .expect("the terminating thread");
    assert_eq!(exit, Some(0), "exit status 0 on SIGTERM");
    match ws::next_heard(&mut client, WAIT).await {
        ws::Heard::Closed(_) => {}
        other => panic!("the connection is closed on the way out, not {other:?}"),
    }
}

#[tokio::test]
async fn with_redis_unreachable_ingest_trusts_nothing_it_remembered() {
    // The services' Redis (REDIS_URL, as TestEnv reads it), behind a proxy
    // only ingest goes through.
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let proxy = testkit::proxy::Proxy::start(&testkit::host_port(&redis)).await;
    let redis_url = format!("redis://{}", proxy.addr);
    let app = TestApp::spawn_with(Options::default().ingest(move |c| {
        c.common.redis_url = redis_url;
    }))
    .await;
    let courier = app.courier().await;
    let tn = tracking_number();
    app.created(&tn).await;
    app.deliver(&courier, &[&tn]).await;
    let (id, key) = app.register_device(courier.user_id, "van tracker").await;
    let post = || {
        reqwest::Client::new()
            .post(app.url(&format!("/packages/{tn}/locations")))
            .header("authorization", format!("ApiKey {key}"))
            .json(&json!({"latitude": 40.7, "longitude": -74.0}))
            .send()
    };
    // Ingest remembers the key now.
    assert_eq!(post().await.expect("an answer").status(), 202);
    // Ingest loses Redis, so it cannot hear that the workers revoke the key.
    proxy.cut();
    let revoked = app
        .http
        .delete(app.url(&format!("/devices/{id}")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(revoked.status(), 200);
    // It asks PostgreSQL instead of believing what it remembered.
    let refused = eventually(WAIT, "the revoked key refused", || async {
        let answer = post().await.ok()?;
        (answer.status() == 401).then_some(answer)
    })
    .await;
    expect_error(refused, 401).await;
    app.shutdown().await;
}

/// A sign-up's request, for a new address.
fn sign_up(app: &TestApp, client: &reqwest::Client) -> reqwest::RequestBuilder {
    let email = format!("burst-{}@example.com", uuid::Uuid::new_v4().simple());
    client
        .post(app.url("/auth/register"))
        .json(&json!({"email": email, "password": "a long enough password", "name": "Burst"}))
}

#[tokio::test]
async fn a_password_hash_that_waits_5_s_for_its_turn_gets_503() {
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.password_hashes_at_once = 1;
        c.max_connections = 4096;
        c.max_connections_per_address = 0;
    }))
    .await;
    let client = reqwest::Client::new();
    // One hash's time here (the quickest of three sign-ups, which is an
    // upper bound), to send a burst whose hashing takes about 15 s.
    let mut one = Duration::MAX;
    for _ in 0..3 {
        let began = std::time::Instant::now();
        assert_eq!(sign_up(&app, &client).send().await.unwrap().status(), 202);
        one = one.min(began.elapsed());
    }
    let burst = ((15.0 / one.as_secs_f64().max(1e-3)) as usize).clamp(100, 3000);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..burst {
        let request = sign_up(&app, &client);
        requests.spawn(async move {
            let sent = std::time::Instant::now();
            let answer = request.send().await.expect("an answer");
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok().map(str::to_owned));
            (answer.status().as_u16(), retry_after, sent.elapsed())
        });
    }
    let (mut accepted, mut busy) = (0, 0);
    while let Some(answer) = requests.join_next().await {
        let (status, retry_after, took) = answer.expect("a request task");
        match status {
            202 => accepted += 1,
            503 => {
                busy += 1;
                assert!(retry_after.is_some(), "503 without Retry-After");
                assert!(
                    took >= Duration::from_millis(4900),
                    "refused after {took:?}, before its 5 s wait"
                );
            }
            other => panic!("a sign-up answered {other}"),
        }
    }
    assert!(
        accepted >= 1 && busy >= 1,
        "{burst} sign-ups at one hash each {one:?}: {accepted} accepted, {busy} told to retry"
    );
    app.shutdown().await;
}
