//! `/metrics` on every service moving by what the pipeline did, and one
//! trace id from the HTTP request to the worker and the broadcaster, with
//! the binaries run as operators run them.

use super::system::{delta, system, System};
use serde_json::{json, Value};
use shared::auth::Role;
use testkit::app::{package_body, WAIT};
use testkit::metrics::{scrape, Scrape};
use testkit::ws;
use testkit::{eventually, TestEnv};

/// The trace context the status update is sent with.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TN: &str = "TRK0OPS000001";

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
    let system = system(&env, &logs).await;
    ops_are_not_on_the_public_ports(&system).await;
    let token = env.token(&env.account(Role::Admin).await);
    let http = testkit::app::client_with_token(&token);
    let api = format!("http://{}/api/v1", system.ingest_addr);
    let created = http
        .post(format!("{api}/packages"))
        .json(&package_body(TN))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let ws_url = format!("ws://{}/ws", system.broadcaster_addr);
    let mut client = ws::connect(&ws::Endpoint::new(&ws_url, &token)).await;
    ws::subscribe(&mut client, TN).await;
    let before = (
        scrape(&system.ingest_metrics).await,
        scrape(&system.workers_metrics).await,
        scrape(&system.broadcaster_metrics).await,
    );
    write_with_a_trace(&http, &api, &mut client).await;
    let ingest_after = ingest_counted(&system, &before.0).await;
    let workers_after = workers_counted(&system, &before.1).await;
    let broadcaster_after = broadcaster_counted(&system, &before.2).await;
    dashboard_metrics_are_exported(&[&ingest_after, &workers_after, &broadcaster_after]);
    probes_answer(&system).await;
    the_trace_id_is_in_every_services_logs(&system).await;
}

/// Not on the public ports: only the operations listeners serve them.
async fn ops_are_not_on_the_public_ports(system: &System) {
    for public in [
        format!("http://{}/metrics", system.ingest_addr),
        format!("http://{}/metrics", system.broadcaster_addr),
        format!("http://{}/health", system.broadcaster_addr),
    ] {
        let answer = reqwest::get(&public).await.unwrap();
        assert_eq!(answer.status(), 404, "{public}");
    }
}

/// A status update sent with a trace context, then a location post; both
/// reach the subscriber.
async fn write_with_a_trace(http: &reqwest::Client, api: &str, client: &mut ws::Client) {
    let updated = http
        .put(format!("{api}/packages/{TN}/status"))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .json(&json!({"status": "in_transit", "location": "Hub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    assert!(updated.headers().contains_key("x-request-id"));
    let posted = http
        .post(format!("{api}/packages/{TN}/locations"))
        .json(&json!({"latitude": 40.7, "longitude": -74.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    for _ in 0..2 {
        let update = ws::next_json(client, WAIT).await.expect("an update");
        assert_eq!(update["type"], "package_update", "{update}");
    }
}

async fn ingest_counted(system: &System, before: &Scrape) -> Scrape {
    let after = scrape(&system.ingest_metrics).await;
    let requests = "delivertrack_ingest_http_requests_total";
    for (route, method, status) in [
        ("/api/v1/packages/:tracking_number/status", "PUT", "200"),
        ("/api/v1/packages/:tracking_number/locations", "POST", "202"),
    ] {
        let labels = [("route", route), ("method", method), ("status", status)];
        assert_eq!(delta(before, &after, requests, &labels), 1.0, "{route}");
    }
    let creates = [
        ("route", "/api/v1/packages"),
        ("method", "POST"),
        ("status", "201"),
    ];
    assert_eq!(after.value(requests, &creates), 1.0);
    let confirms = "delivertrack_ingest_publish_confirm_duration_seconds_count";
    for kind in ["command", "locations"] {
        assert_eq!(delta(before, &after, confirms, &[("kind", kind)]), 1.0);
    }
    assert_eq!(
        after.value("delivertrack_ingest_broker_connected", &[]),
        1.0
    );
    assert!(
        after.label_values().iter().all(|v| !v.contains(TN)),
        "no tracking number in a label"
    );
    after
}

/// Counted after the ack, which follows the outcome the client saw.
async fn workers_counted(system: &System, before: &Scrape) -> Scrape {
    let after = eventually(WAIT, "the worker's counts", || async {
        let now = scrape(&system.workers_metrics).await;
        let acked = |pool| {
            let name = "delivertrack_workers_messages_acked_total";
            delta(before, &now, name, &[("pool", pool)])
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
            assert_eq!(delta(before, &after, name, &labels), moved, "{name} {pool}");
        }
    }
    let writes = "delivertrack_workers_store_write_duration_seconds_count";
    for (pool, store) in [("locations", "mongodb"), ("packages", "postgres")] {
        let labels = [("pool", pool), ("store", store)];
        assert_eq!(delta(before, &after, writes, &labels), 1.0);
    }
    after
}

async fn broadcaster_counted(system: &System, before: &Scrape) -> Scrape {
    let after = scrape(&system.broadcaster_metrics).await;
    for name in [
        "delivertrack_broadcaster_messages_sent_total",
        "delivertrack_broadcaster_lag_seconds_count",
    ] {
        assert_eq!(delta(before, &after, name, &[]), 2.0, "{name}");
    }
    for gauge in [
        "delivertrack_broadcaster_connections",
        "delivertrack_broadcaster_subscriptions",
    ] {
        assert_eq!(after.value(gauge, &[]), 1.0, "{gauge}");
    }
    after
}

/// Every metric the dashboard and alerts may use (the list the deployment
/// check holds them to) is exported.
fn dashboard_metrics_are_exported(scrapes: &[&Scrape]) {
    let listed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/validate_deploy.py"
    ))
    .expect("scripts/validate_deploy.py");
    let exported: Vec<String> = scrapes.iter().flat_map(|s| s.names()).collect();
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
}

/// Live, and ready: each consumes from the broker.
async fn probes_answer(system: &System) {
    for metrics in [
        &system.ingest_metrics,
        &system.broadcaster_metrics,
        &system.workers_metrics,
    ] {
        let base = metrics.trim_end_matches("/metrics");
        for probe in ["/health", "/health/ready"] {
            let answer = reqwest::get(format!("{base}{probe}")).await.unwrap();
            assert_eq!(answer.status(), 200, "{base}{probe}");
        }
    }
}

/// The trace id, as the client sent it, in each service's JSON log lines.
async fn the_trace_id_is_in_every_services_logs(system: &System) {
    for (service, logs) in [
        ("ingest", &system.ingest.logs),
        ("workers", &system.workers.logs),
        ("broadcaster", &system.broadcaster.logs),
    ] {
        let lines = eventually(WAIT, &format!("{service} to log the trace"), || async {
            let lines = logs.containing(TRACE_ID);
            (!lines.is_empty()).then_some(lines)
        })
        .await;
        for line in &lines {
            let parsed: Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{service} logs JSON: {line}"));
            let logged = parsed["fields"]["trace_id"]
                .as_str()
                .or(parsed["span"]["trace_id"].as_str());
            assert_eq!(logged, Some(TRACE_ID), "{service}: {line}");
        }
    }
}
