//! `webhooks`: signed deliveries per second to a local receiver. A receiver
//! in this process answers 204 at once and counts the distinct events it
//! got; an endpoint registered for `created` gets one call per package the
//! run creates. What matters is that the pool keeps up with the flow that
//! feeds it: deliveries per second from the first create to the last
//! delivery, against the creates per second of the same run; and beneath
//! it, the raw rate one client POSTs to the same receiver.
//!
//! The services must allow a plain-HTTP endpoint on loopback
//! (`WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true`); otherwise the
//! registration is refused and the scenario says so.

use super::Run;
use crate::report::{Row, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "webhooks";

/// What the receiver saw: every call, and the distinct event ids.
#[derive(Default)]
struct Seen {
    calls: u64,
    events: HashSet<String>,
}

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let (url, seen) = receiver().await?;
    let raw = raw_posts(&url, run.sizes.duration / 2, run.sizes.connections).await?;
    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Seen::default();
    let Some(webhook) = register(run, &url).await? else {
        return Ok(vec![Row::new(NAME, "deliveries", 0.0, "call/s")
            .note("SKIPPED: the endpoint was refused; run the services with WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true")]);
    };
    let count = run.sizes.drain_backlog.clamp(100, 5_000) as usize;
    let start = Instant::now();
    run.seed("WH", count).await?;
    let created_in = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    let delivered = loop {
        let got = seen.lock().unwrap_or_else(|p| p.into_inner()).events.len();
        if got >= count || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let delivered_in = start.elapsed();
    let calls = seen.lock().unwrap_or_else(|p| p.into_inner()).calls;
    unregister(run, &webhook).await;
    let created_per_s = count as f64 / created_in.as_secs_f64().max(1e-3);
    let delivered_per_s = delivered as f64 / delivered_in.as_secs_f64().max(1e-3);
    Ok(vec![
        Row::new(
            NAME,
            "packages created (feeding it)",
            created_per_s,
            "pkg/s",
        )
        .note(format!("{count} creates, each one `created` event")),
        Row::new(
            NAME,
            "deliveries (create to receipt)",
            delivered_per_s,
            "call/s",
        )
        .baseline("creates, same run", created_per_s)
        .target(Target::RatioAtLeast(0.9))
        .note(format!(
            "last delivery {:.1} s after the last create; raw POSTs to the receiver: {raw:.0}/s",
            (delivered_in - created_in).as_secs_f64()
        )),
        Row::new(
            NAME,
            "accepted events delivered",
            delivered as f64,
            "events",
        )
        .target(Target::AtLeast(count as f64))
        .note(if delivered >= count {
            format!("{} calls for {count} events", calls)
        } else {
            format!("LOST {} of {count}", count - delivered)
        }),
    ])
}

/// A receiver answering 204 at once; its URL and what it saw.
async fn receiver() -> anyhow::Result<(String, Arc<Mutex<Seen>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let counting = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let counting = Arc::clone(&counting);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let counting = Arc::clone(&counting);
                        async move {
                            let event = request
                                .headers()
                                .get("x-delivertrack-event-id")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let _ = request.into_body().collect().await;
                            let mut seen = counting.lock().unwrap_or_else(|p| p.into_inner());
                            seen.calls += 1;
                            if let Some(event) = event {
                                seen.events.insert(event);
                            }
                            let mut response = hyper::Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((url, seen))
}

/// POSTs per second one client gets through to the receiver.
async fn raw_posts(url: &str, lasting: Duration, connections: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let body = Bytes::from_static(br#"{"id":"x","type":"created","data":{}}"#);
    let end = Instant::now() + lasting;
    let workers = (0..connections.max(1)).map(|_| {
        let (client, body, url) = (client.clone(), body.clone(), url.to_owned());
        tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < end {
                if client.post(&url).body(body.clone()).send().await.is_ok() {
                    done += 1;
                }
            }
            done
        })
    });
    let mut total = 0;
    for worker in workers {
        total += worker.await?;
    }
    Ok(total as f64 / lasting.as_secs_f64().max(1e-3))
}

/// Registers the endpoint for `created`; `None` when it is refused.
async fn register(run: &Run<'_>, url: &str) -> anyhow::Result<Option<String>> {
    let answer = client(run)?
        .post(format!(
            "http://{}{}/webhooks",
            run.system.addr, run.system.prefix
        ))
        .json(&serde_json::json!({"url": url, "events": ["created"], "description": "dt-bench"}))
        .send()
        .await?;
    if answer.status().as_u16() == 422 {
        return Ok(None);
    }
    anyhow::ensure!(
        answer.status().as_u16() == 201,
        "registering: {}",
        answer.status()
    );
    let body: serde_json::Value = answer.json().await?;
    Ok(body["id"].as_str().map(str::to_owned))
}

async fn unregister(run: &Run<'_>, id: &str) {
    if let Ok(client) = client(run) {
        let _ = client
            .delete(format!(
                "http://{}{}/webhooks/{id}",
                run.system.addr, run.system.prefix
            ))
            .send()
            .await;
    }
}

fn client(run: &Run<'_>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &run.system.ws_token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}
