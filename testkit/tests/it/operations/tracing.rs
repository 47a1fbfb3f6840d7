//! Traces exported over OTLP: each service's hop of a request's trace.

use super::system::system;
use serde_json::json;
use shared::auth::Role;
use testkit::app::{package_body, WAIT};
use testkit::ws;
use testkit::{eventually, TestEnv};

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
