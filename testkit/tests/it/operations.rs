//! What operators watch and rely on, with the binaries run as they run them:
//! `/metrics` on every service moving by what the pipeline did, one trace
//! id from the HTTP request to the worker and the broadcaster, location
//! workers sharing a backlog, a shard-count mismatch refused, and queue
//! depths in `/api/v1/stats`.

use serde_json::{json, Value};
use shared::auth::Role;
use shared::wire::{Envelope, LocationBatch};
use std::time::Duration;
use testkit::app::{package_body, TestApp, WAIT};
use testkit::metrics::{free_port, scrape, Scrape};
use testkit::services::Process;
use testkit::ws;
use testkit::{eventually, TestEnv};

/// The environment of a binary in this test's system, with `extra` on top.
fn env_with(env: &TestEnv, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut vars = env.service_env();
    vars.extend(
        [
            ("RATE_LIMIT_IP_PER_MIN", "0".to_owned()),
            ("RATE_LIMIT_CALLER_PER_MIN", "0".to_owned()),
        ]
        .into_iter()
        .chain(extra.iter().cloned())
        .map(|(k, v)| (k.to_owned(), v)),
    );
    vars
}

/// The address a process printed on its first line (`... on http://addr`).
fn printed_addr(process: &Process) -> String {
    let line = process.first_line.clone().unwrap_or_default();
    line.rsplit("://")
        .next()
        .unwrap_or_default()
        .trim_end_matches("/ws")
        .to_owned()
}

/// A workers process serving its metrics on a port of its own; returns it
/// once `/health` answers.
async fn workers(env: &TestEnv, extra: &[(&str, String)]) -> (Process, String) {
    let port = free_port();
    let mut vars = vec![("METRICS_LISTEN", format!("127.0.0.1:{port}"))];
    vars.extend(extra.iter().cloned());
    let process = Process::start_logged("workers", &env_with(env, &vars), false);
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/health");
    eventually(WAIT, "the workers' health endpoint", || async {
        let answer = reqwest::get(&health).await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await;
    (process, format!("{base}/metrics"))
}

/// The three services as processes, with `extra` in their environment:
/// ingest, the broadcaster (both on a free port they print) and a workers
/// process (with its metrics URL).
struct System {
    ingest: Process,
    broadcaster: Process,
    workers: Process,
    /// `host:port` of each.
    ingest_addr: String,
    broadcaster_addr: String,
    /// Each one's `/metrics`, on its own operations listener.
    ingest_metrics: String,
    broadcaster_metrics: String,
    workers_metrics: String,
}

async fn system(env: &TestEnv, extra: &[(&str, String)]) -> System {
    let start = |name: &str, listen: &'static str| {
        let ops = format!("127.0.0.1:{}", free_port());
        let vars = [
            extra,
            &[
                (listen, "127.0.0.1:0".to_owned()),
                ("METRICS_LISTEN", ops.clone()),
            ],
        ]
        .concat();
        (
            Process::start_logged(name, &env_with(env, &vars), true),
            format!("http://{ops}/metrics"),
        )
    };
    let (ingest, ingest_metrics) = start("ingest", "INGEST_LISTEN");
    let (broadcaster, broadcaster_metrics) = start("broadcaster", "BROADCASTER_LISTEN");
    let (workers, workers_metrics) = workers(env, extra).await;
    System {
        ingest_addr: printed_addr(&ingest),
        broadcaster_addr: printed_addr(&broadcaster),
        ingest,
        broadcaster,
        workers,
        ingest_metrics,
        broadcaster_metrics,
        workers_metrics,
    }
}

fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

#[tokio::test]
async fn one_write_moves_every_services_counters_and_carries_its_trace_id() {
    let env = TestEnv::new().await;
    let logs = [
        ("LOG_FORMAT", "json".to_owned()),
        (
            "RUST_LOG",
            "info,ingest=debug,workers=debug,broadcaster=debug".to_owned(),
        ),
    ];
    let System {
        ingest,
        broadcaster,
        workers,
        ingest_addr,
        broadcaster_addr,
        ingest_metrics,
        broadcaster_metrics,
        workers_metrics,
    } = system(&env, &logs).await;
    let api = format!("http://{ingest_addr}/api/v1");
    // Not on the public ports: only the operations listeners serve them.
    for public in [
        format!("http://{ingest_addr}/metrics"),
        format!("http://{broadcaster_addr}/metrics"),
        format!("http://{broadcaster_addr}/health"),
    ] {
        let answer = reqwest::get(&public).await.unwrap();
        assert_eq!(answer.status(), 404, "{public}");
    }
    let admin = env.account(Role::Admin).await;
    let token = env.token(&admin);
    let http = testkit::app::client_with_token(&token);

    let tn = "TRK0OPS000001";
    let created = http
        .post(format!("{api}/packages"))
        .json(&package_body(tn))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut client = ws::connect(&ws::Endpoint::new(
        &format!("ws://{broadcaster_addr}/ws"),
        &token,
    ))
    .await;
    ws::subscribe(&mut client, tn).await;
    let before = (
        scrape(&ingest_metrics).await,
        scrape(&workers_metrics).await,
        scrape(&broadcaster_metrics).await,
    );

    // A status update sent with a trace context, then a location post.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let updated = http
        .put(format!("{api}/packages/{tn}/status"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"status": "in_transit", "location": "Hub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    assert!(updated.headers().contains_key("x-request-id"));
    let posted = http
        .post(format!("{api}/packages/{tn}/locations"))
        .json(&json!({"latitude": 40.7, "longitude": -74.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    for _ in 0..2 {
        let update = ws::next_json(&mut client, WAIT).await.expect("an update");
        assert_eq!(update["type"], "package_update", "{update}");
    }

    let (ingest_before, workers_before, broadcaster_before) = before;
    let ingest_after = scrape(&ingest_metrics).await;
    let requests = "delivertrack_ingest_http_requests_total";
    for (route, method, status) in [
        ("/api/v1/packages/:tracking_number/status", "PUT", "200"),
        ("/api/v1/packages/:tracking_number/locations", "POST", "202"),
    ] {
        let labels = [("route", route), ("method", method), ("status", status)];
        assert_eq!(
            delta(&ingest_before, &ingest_after, requests, &labels),
            1.0,
            "{route}"
        );
    }
    let creates = [
        ("route", "/api/v1/packages"),
        ("method", "POST"),
        ("status", "201"),
    ];
    assert_eq!(ingest_after.value(requests, &creates), 1.0);
    let confirms = "delivertrack_ingest_publish_confirm_duration_seconds_count";
    assert_eq!(
        delta(
            &ingest_before,
            &ingest_after,
            confirms,
            &[("kind", "command")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &ingest_before,
            &ingest_after,
            confirms,
            &[("kind", "locations")]
        ),
        1.0
    );
    assert_eq!(
        ingest_after.value("delivertrack_ingest_broker_connected", &[]),
        1.0
    );
    assert!(
        ingest_after.label_values().iter().all(|v| !v.contains(tn)),
        "no tracking number in a label"
    );

    // Counted after the ack, which follows the outcome the client saw.
    let workers_after = eventually(WAIT, "the worker's counts", || async {
        let now = scrape(&workers_metrics).await;
        let acked = |pool| {
            delta(
                &workers_before,
                &now,
                "delivertrack_workers_messages_acked_total",
                &[("pool", pool)],
            )
        };
        (acked("packages") == 1.0 && acked("locations") == 1.0).then_some(now)
    })
    .await;
    for pool in ["packages", "locations"] {
        let labels = [("pool", pool)];
        for (name, moved) in [
            ("delivertrack_workers_messages_consumed_total", 1.0),
            ("delivertrack_workers_lag_seconds_count", 1.0),
            ("delivertrack_workers_window_messages_count", 1.0),
            ("delivertrack_workers_messages_dead_lettered_total", 0.0),
        ] {
            assert_eq!(
                delta(&workers_before, &workers_after, name, &labels),
                moved,
                "{name} {pool}"
            );
        }
    }
    let writes = "delivertrack_workers_store_write_duration_seconds_count";
    assert_eq!(
        delta(
            &workers_before,
            &workers_after,
            writes,
            &[("pool", "locations"), ("store", "mongodb")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &workers_before,
            &workers_after,
            writes,
            &[("pool", "packages"), ("store", "postgres")]
        ),
        1.0
    );

    let broadcaster_after = scrape(&broadcaster_metrics).await;
    let sent = "delivertrack_broadcaster_messages_sent_total";
    assert_eq!(
        delta(&broadcaster_before, &broadcaster_after, sent, &[]),
        2.0
    );
    assert_eq!(
        delta(
            &broadcaster_before,
            &broadcaster_after,
            "delivertrack_broadcaster_lag_seconds_count",
            &[]
        ),
        2.0
    );
    assert_eq!(
        broadcaster_after.value("delivertrack_broadcaster_connections", &[]),
        1.0
    );
    assert_eq!(
        broadcaster_after.value("delivertrack_broadcaster_subscriptions", &[]),
        1.0
    );
    // Every metric the dashboard and alerts may use (the list the
    // deployment check holds them to) is exported.
    let listed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/validate_deploy.py"
    ))
    .expect("scripts/validate_deploy.py");
    let exported: Vec<String> = [&ingest_after, &workers_after, &broadcaster_after]
        .iter()
        .flat_map(|s| s.names())
        .collect();
    let mut checked = 0;
    for line in listed.lines() {
        let Some(name) = line.trim().strip_prefix("\"delivertrack_") else {
            continue;
        };
        let name = format!(
            "delivertrack_{}",
            name.split('"').next().unwrap_or_default()
        );
        assert!(
            exported
                .iter()
                .any(|e| *e == name || *e == format!("{name}_count")),
            "{name} is listed for dashboards but not exported"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} metric names found in the list"
    );
    // Live, and ready: both consume from the broker.
    for base in [
        ingest_metrics.trim_end_matches("/metrics").to_owned(),
        broadcaster_metrics.trim_end_matches("/metrics").to_owned(),
        workers_metrics.trim_end_matches("/metrics").to_owned(),
    ] {
        for probe in ["/health", "/health/ready"] {
            let answer = reqwest::get(format!("{base}{probe}")).await.unwrap();
            assert_eq!(answer.status(), 200, "{base}{probe}");
        }
    }

    // The trace id, as the client sent it, in each service's JSON log lines.
    for (service, logs) in [
        ("ingest", &ingest.logs),
        ("workers", &workers.logs),
        ("broadcaster", &broadcaster.logs),
    ] {
        let lines = eventually(WAIT, &format!("{service} to log the trace"), || async {
            let lines = logs.containing(trace_id);
            (!lines.is_empty()).then_some(lines)
        })
        .await;
        for line in &lines {
            let parsed: Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{service} logs JSON: {line}"));
            let logged = parsed["fields"]["trace_id"]
                .as_str()
                .or(parsed["span"]["trace_id"].as_str());
            assert_eq!(logged, Some(trace_id), "{service}: {line}");
        }
    }
}

#[tokio::test]
async fn two_location_worker_processes_share_one_backlog_and_store_each_point_once() {
    let mut app = TestApp::spawn().await;
    let numbers: Vec<String> = (0..5).map(|i| format!("TRK0SHARE{i:05}")).collect();
    for tn in &numbers {
        app.created(tn).await;
    }
    app.stop_workers().await;
    let messages = 200;
    for i in 0..messages {
        let points = (0..3)
            .map(|_| testkit::location_point(&numbers[i % numbers.len()]))
            .collect();
        app.env
            .publish_locations(&Envelope::new(
                uuid::Uuid::now_v7(),
                chrono::Utc::now(),
                testkit::dispatcher(),
                LocationBatch::new(points),
            ))
            .await;
    }
    // Small prefetches, so neither process can take the whole backlog.
    let pool = [
        ("WORKER_POOLS", "locations".to_owned()),
        ("WORKER_LOCATION_PREFETCH", "8".to_owned()),
    ];
    let (first, first_metrics) = workers(&app.env, &pool).await;
    let (second, second_metrics) = workers(&app.env, &pool).await;
    let history = app
        .env
        .mongo()
        .await
        .collection::<mongodb::bson::Document>("location_history");
    eventually(Duration::from_secs(60), "every point stored", || async {
        let stored = history.count_documents(mongodb::bson::doc! {}).await.ok()?;
        (stored >= (messages * 3) as u64).then_some(())
    })
    .await;
    let consumed = "delivertrack_workers_messages_consumed_total";
    let acked = "delivertrack_workers_messages_acked_total";
    let locations = [("pool", "locations")];
    let counts = eventually(WAIT, "both processes to ack what they took", || async {
        let (a, b) = (scrape(&first_metrics).await, scrape(&second_metrics).await);
        let taken = a.value(consumed, &locations) + b.value(consumed, &locations);
        let done = a.value(acked, &locations) + b.value(acked, &locations);
        (done == messages as f64).then_some((
            a.value(consumed, &locations),
            b.value(consumed, &locations),
            taken,
        ))
    })
    .await;
    let (by_first, by_second, taken) = counts;
    assert!(
        by_first > 0.0 && by_second > 0.0,
        "both consumed: {by_first} and {by_second}"
    );
    assert_eq!(taken, messages as f64, "no message taken twice");
    assert_eq!(
        app.env
            .queue_depth(&app.env.topology().locations_queue())
            .await,
        0
    );
    // Every message acked, so nothing is in flight: a point applied twice
    // would have taken a second number (the history, keyed by point id,
    // cannot show one). Each package's creation is its event 1.
    let mut numbered = 0;
    for tn in &numbers {
        numbered += app.env.event_seq(tn).await - 1;
    }
    assert_eq!(numbered, (messages * 3) as i64, "each point stored once");
    drop((first, second));
    app.shutdown().await;
}

#[tokio::test]
async fn a_process_with_another_shard_count_refuses_to_run_saying_so_in_one_line() {
    let env = TestEnv::with_shards(4).await;
    for (service, extra) in [
        ("workers", vec![("METRICS_LISTEN", "off".to_owned())]),
        ("ingest", vec![("INGEST_LISTEN", "127.0.0.1:0".to_owned())]),
    ] {
        let mut vars = env_with(&env, &extra);
        vars.push(("PACKAGE_SHARDS".to_owned(), "8".to_owned()));
        let mut process = Process::start_logged(service, &vars, false);
        let code = process.wait_exit(Duration::from_secs(30));
        assert!(
            matches!(code, Some(c) if c != 0),
            "{service} exited with {code:?}"
        );
        let said = process.logs.containing("PACKAGE_SHARDS");
        assert_eq!(said.len(), 1, "{service}: {:?}", process.logs.lines());
        assert!(
            said[0].starts_with(&format!("{service}: PACKAGE_SHARDS=8"))
                && said[0].contains("with 4 package shards"),
            "{}",
            said[0]
        );
    }
    // Nothing was declared for the other count: no fifth shard queue.
    let channel = env.new_channel().await;
    let fifth = channel
        .queue_declare(
            shared::topology::Topology::new(env.topology().prefix(), 8)
                .package_queue(4)
                .into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    assert!(fifth.is_err(), "a queue for shard 4 of 8 exists");
}

/// The package queues' total in `/stats`, and each queue's entry.
async fn package_backlog(app: &TestApp) -> (u64, Vec<Value>) {
    let stats: Value = app.get("/stats").await.json().await.expect("stats");
    let queues: Vec<Value> = stats["queues"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|q| q["pool"] == "packages")
        .collect();
    let ready = queues
        .iter()
        .filter_map(|q| q["messages_ready"].as_u64())
        .sum();
    (ready, queues)
}

#[tokio::test]
async fn stats_show_a_queue_rising_while_its_workers_are_stopped_and_falling_when_they_start() {
    let mut app = TestApp::spawn().await;
    let tn = "TRK0DEPTH0001";
    app.created(tn).await;
    let (ready, queues) = package_backlog(&app).await;
    assert_eq!(ready, 0);
    assert_eq!(
        queues.len(),
        usize::from(app.env.topology().package_shards())
    );
    assert!(
        queues.iter().all(|q| q["consumers"].as_u64() >= Some(1)),
        "{queues:?}"
    );

    app.stop_workers().await;
    for status in [
        "in_transit",
        "out_for_delivery",
        "delivered",
        "in_transit",
        "delivered",
    ] {
        let accepted = app
            .http
            .put(app.url(&format!("/packages/{tn}/status")))
            .header("prefer", "respond-async")
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
    }
    let (ready, queues) = package_backlog(&app).await;
    assert_eq!(ready, 5, "{queues:?}");
    assert!(queues.iter().all(|q| q["consumers"] == 0), "{queues:?}");
    // Unacked counts come from the management API, which this machine runs
    // (it samples queues every few seconds): hold one delivery unacked.
    let busy = queues
        .iter()
        .find(|q| q["messages_ready"] == 5)
        .and_then(|q| q["queue"].as_str())
        .expect("the package's shard queue")
        .to_owned();
    // (A consumer, not basic.get: shard queues have a single active consumer.)
    let holder = app.env.new_channel().await;
    holder
        .basic_qos(1, Default::default())
        .await
        .expect("prefetch 1");
    let mut consumer = holder
        .basic_consume(
            busy.as_str().into(),
            "holder".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("consume");
    let held = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut consumer)).await;
    assert!(matches!(held, Ok(Some(Ok(_)))), "a message to hold");
    eventually(WAIT, "the held message counted as unacked", || async {
        let (_, queues) = package_backlog(&app).await;
        let queue = queues.iter().find(|q| q["queue"] == busy.as_str())?;
        (queue["messages_unacknowledged"] == 1 && queue["messages_ready"] == 4).then_some(())
    })
    .await;
    // Closing the channel hands it back.
    holder.close(200, "done".into()).await.expect("close");
    eventually(WAIT, "the held message back in the queue", || async {
        let (ready, _) = package_backlog(&app).await;
        (ready == 5).then_some(())
    })
    .await;

    app.start_workers();
    eventually(WAIT, "the backlog to drain", || async {
        let (ready, queues) = package_backlog(&app).await;
        (ready == 0 && queues.iter().any(|q| q["consumers"].as_u64() >= Some(1))).then_some(())
    })
    .await;

    // Connections over every broadcaster, as each one reports them.
    let broadcaster = app.broadcaster(|_| {}).await;
    let _client = ws::connect(&broadcaster.url).await;
    eventually(WAIT, "the connection counted in stats", || async {
        let stats: Value = app.get("/stats").await.json().await.ok()?;
        (stats["websocket_connections"] == 1 && stats["broadcaster_instances"] == 1).then_some(())
    })
    .await;
    app.shutdown().await;
}

/// An OTLP/HTTP collector that keeps every export request's body.
async fn collector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<bytes::Bytes>>>) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = std::sync::Arc::clone(&kept);
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let kept = std::sync::Arc::clone(&kept);
                    async move {
                        if let Ok(body) = request.into_body().collect().await {
                            kept.lock().unwrap().push(body.to_bytes());
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::new()),
                        ))
                    }
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (url, bodies)
}

#[tokio::test]
async fn with_an_otlp_endpoint_each_service_exports_its_hop_of_the_requests_trace() {
    let env = TestEnv::new().await;
    let (endpoint, bodies) = collector().await;
    let otlp = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let running = system(&env, &otlp).await;
    let api = format!("http://{}/api/v1", running.ingest_addr);
    let token = env.token(&env.account(Role::Admin).await);
    let http = testkit::app::client_with_token(&token);
    let tn = "TRK0OTLP00001";
    let created = http
        .post(format!("{api}/packages"))
        .json(&package_body(tn))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut client = ws::connect(&ws::Endpoint::new(
        &format!("ws://{}/ws", running.broadcaster_addr),
        &token,
    ))
    .await;
    ws::subscribe(&mut client, tn).await;

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let updated = http
        .put(format!("{api}/packages/{tn}/status"))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({"status": "in_transit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    ws::next_json(&mut client, WAIT).await.expect("the update");

    // Export requests are protobuf: the trace id travels as its 16 raw bytes,
    // the service's name as text.
    let raw_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let contains = |body: &[u8], needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    for service in [
        "delivertrack-ingest",
        "delivertrack-workers",
        "delivertrack-broadcaster",
    ] {
        eventually(
            WAIT,
            &format!("{service} to export a span of the trace"),
            || async {
                let bodies = bodies.lock().unwrap().clone();
                bodies
                    .iter()
                    .any(|b| contains(b, service.as_bytes()) && contains(b, &raw_id))
                    .then_some(())
            },
        )
        .await;
    }
}
