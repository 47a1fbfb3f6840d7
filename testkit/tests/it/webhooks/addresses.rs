//! A URL that resolves to a loopback, private, link-local or metadata
//! address is refused at registration, and at delivery when its DNS
//! changed after registration: the attempt is logged as refused and the
//! address is never called.

use super::dns::Dns;
use super::receiver::Receiver;
use super::{deliveries, register, DELIVERY_WAIT};
use serde_json::json;
use shared::webhooks::target::{Resolver, Rules};
use std::net::Ipv4Addr;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp};

const HOST: &str = "hooks.dt-test.example";
const PUBLIC: Ipv4Addr = Ipv4Addr::new(93, 184, 215, 14);

/// Plain HTTP allowed (the receiver has no certificate), internal
/// addresses not: what production refuses.
const RULES: Rules = Rules {
    allow_http: true,
    allow_private: false,
};

#[tokio::test]
async fn internal_addresses_are_refused_at_registration_and_after_a_dns_change() {
    let dns = Dns::start(HOST, Ipv4Addr::LOCALHOST).await;
    let resolver = Resolver::server(dns.addr).expect("a resolver");
    let for_ingest = resolver.clone();
    let app = TestApp::spawn_with(
        Options::default()
            .with_webhooks(|settings| {
                settings.rules = RULES;
                settings.resolver = resolver;
            })
            .ingest(move |config| {
                config.webhooks.rules = RULES;
                config.webhooks.resolver = for_ingest;
            }),
    )
    .await;
    let receiver = Receiver::start(Vec::new()).await;
    let port = receiver.port;

    for (url, says) in [
        (
            format!("http://127.0.0.1:{port}/hook"),
            "a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "a cloud metadata address",
        ),
        ("http://[::1]/hook".to_owned(), "a loopback address"),
        ("http://10.0.0.7/hook".to_owned(), "a private address"),
        (
            format!("http://{HOST}:{port}/hook"),
            "resolves to 127.0.0.1, a loopback address",
        ),
    ] {
        let answer = app
            .post_json("/webhooks", &json!({"url": url, "events": ["created"]}))
            .await;
        let error = expect_error(answer, 422).await;
        assert!(error.contains(says), "{url}: {error}");
    }
    let answer = app
        .post_json(
            "/webhooks",
            &json!({"url": "ftp://example.com/", "events": ["created"]}),
        )
        .await;
    expect_error(answer, 422).await;
    assert_eq!(
        app.get("/webhooks")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap(),
        json!([])
    );

    // Registered while the name points at a public address...
    dns.set(PUBLIC);
    let webhook = register(
        &app,
        &app.http,
        &format!("http://{HOST}:{port}/hook"),
        &["created"],
    )
    .await;
    let id = webhook["id"].as_str().unwrap();
    // ...then it moves to loopback: the delivery is refused, not sent.
    dns.set(Ipv4Addr::LOCALHOST);
    app.post_json("/packages", &package_body(&tracking_number()))
        .await;
    let refused = testkit::eventually(DELIVERY_WAIT, "a refused attempt", || async {
        let log = deliveries(&app, &app.http, id).await;
        let attempts = log.first()?["attempts"].as_array()?.clone();
        let first = attempts.first()?;
        first["error"].as_str().map(str::to_owned)
    })
    .await;
    assert!(
        refused.contains("resolves to 127.0.0.1, a loopback address: refused"),
        "{refused}"
    );
    // And to the metadata address.
    dns.set(Ipv4Addr::new(169, 254, 169, 254));
    testkit::eventually(
        DELIVERY_WAIT,
        "a refused attempt to the metadata address",
        || async {
            let log = deliveries(&app, &app.http, id).await;
            let attempts = log.first()?["attempts"].as_array()?.clone();
            attempts
                .iter()
                .any(|a| {
                    a["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("169.254.169.254, a cloud metadata address"))
                })
                .then_some(())
        },
    )
    .await;
    assert!(
        receiver.received().is_empty(),
        "the internal address was never called"
    );
    let log = deliveries(&app, &app.http, id).await;
    assert_eq!(
        log[0]["state"], "pending",
        "still retried: DNS may change back"
    );
    assert!(log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status_code"].is_null()));
    app.shutdown().await;
}
