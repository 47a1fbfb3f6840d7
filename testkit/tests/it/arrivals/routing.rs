//! `ROUTING_URL`: legs measured by an OSRM-compatible routing service
//! (here a stand-in speaking its route API over HTTP, as OSRM needs map
//! data this machine does not have), and estimates that carry on without
//! it when it fails.

use super::{arrival_notices, create_going, eta_at, north, LONGITUDE};
use chrono::{Duration, Utc};
use serde_json::json;
use shared::domain::Coordinates;
use std::sync::{Arc, Mutex};
use testkit::app::{tracking_number, Options, TestApp, Workers, WAIT};
use testkit::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much longer than the straight line the stand-in's roads are.
const DETOUR: f64 = 3.0;

/// A routing service answering its first request with roads `DETOUR`
/// times the straight line, and failing every later one; the paths asked.
async fn routing_stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buffer = vec![0; 16 * 1024];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..read]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let count = {
                    let mut log = log.lock().unwrap();
                    log.push(path.clone());
                    log.len()
                };
                let answer = match count {
                    1 => {
                        let body = routes(&path).to_string();
                        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                    }
                    _ => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                };
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, asked)
}

/// OSRM's answer for `/route/v1/driving/lon,lat;lon,lat...`.
fn routes(path: &str) -> serde_json::Value {
    let points: Vec<Coordinates> = path
        .trim_start_matches("/route/v1/driving/")
        .split('?')
        .next()
        .unwrap_or("")
        .split(';')
        .filter_map(|p| {
            let (lon, lat) = p.split_once(',')?;
            Coordinates::new(lat.parse().ok()?, lon.parse().ok()?).ok()
        })
        .collect();
    let legs: Vec<_> = points
        .windows(2)
        .map(|w| json!({"distance": DETOUR * w[0].distance_m(&w[1]), "duration": 1.0}))
        .collect();
    json!({"code": "Ok", "routes": [{"legs": legs, "distance": 0.0, "duration": 0.0}]})
}

#[tokio::test]
async fn legs_are_measured_by_the_routing_service_and_estimated_without_it_when_it_fails() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let (url, asked) = routing_stand_in().await;
    let workers = Workers::spawn(workers::WorkerConfig {
        routing_url: Some(url),
        ..testkit::app::worker_config(&app.env)
    });
    let (routed, fallen_back) = (tracking_number(), tracking_number());
    for tn in [&routed, &fallen_back] {
        create_going(&app, tn, 1_000.0, json!({})).await;
    }
    let first = super::on_a_run(&app, &[&routed]).await;
    let second = super::on_a_run(&app, &[&fallen_back]).await;
    let at = Utc::now() - Duration::minutes(1);

    super::drive(&app, &first, at, &[(0, 0.0)]).await;
    let eta = eventually(WAIT, "the routed estimate", || async {
        Some(eta_at(
            &arrival_notices(&app, &routed).await.first()?["eta"],
        ))
    })
    .await;
    // 3 km of road at the default 8 m/s, not 1 km times 1.3.
    let expected = at + Duration::milliseconds((DETOUR * 1_000.0 / 8.0 * 1000.0) as i64);
    assert!(
        (eta - expected).num_seconds().abs() <= 2,
        "{eta} vs {expected}"
    );
    let path = asked.lock().unwrap()[0].clone();
    let from = format!("{:.6},{:.6}", LONGITUDE, north(0.0));
    let to = format!("{:.6},{:.6}", LONGITUDE, north(1_000.0));
    assert!(
        path.starts_with(&format!("/route/v1/driving/{from};{to}?")),
        "{path}"
    );

    // The service fails now: the estimate is the great-circle one.
    super::drive(&app, &second, at, &[(0, 0.0)]).await;
    let eta = eventually(WAIT, "the estimate without the service", || async {
        Some(eta_at(
            &arrival_notices(&app, &fallen_back).await.first()?["eta"],
        ))
    })
    .await;
    let expected = at + Duration::milliseconds((1_000.0 * 1.3 / 8.0 * 1000.0) as i64);
    assert!(
        (eta - expected).num_seconds().abs() <= 2,
        "{eta} vs {expected}"
    );
    assert_eq!(asked.lock().unwrap().len(), 2, "asked once per estimate");
    workers.stop().await;
    app.shutdown().await;
}
