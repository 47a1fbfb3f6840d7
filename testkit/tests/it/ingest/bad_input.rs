//! Every bad input gets its status code and a JSON error, and nothing is
//! published or persisted. No workers run here, so anything published would
//! still sit in the queues.

use serde_json::json;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp};

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_published() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let tn = tracking_number();
    malformed_json_is_400(&app, &tn).await;
    bad_package_fields_are_named(&app, &tn).await;
    bad_status_updates_are_named(&app, &tn).await;
    size_and_content_type(&app, &tn).await;
    routes_methods_and_queries(&app, &tn).await;
    assert_eq!(
        app.env.package_queue_depth().await,
        0,
        "nothing was published"
    );
    assert_eq!(app.package_rows().await, 0, "nothing was persisted");
    let listed = app.get("/packages").await;
    assert_eq!(listed.text().await.unwrap(), "[]");
    app.shutdown().await;
}

/// A request with this body and content type (none: no header).
async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).body(body.to_vec());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

const JSON: Option<&str> = Some("application/json");

async fn malformed_json_is_400(app: &TestApp, tn: &str) {
    let post = raw(
        app,
        reqwest::Method::POST,
        "/packages",
        JSON,
        b"{\"tracking_number\": ",
    )
    .await;
    expect_error(post, 400).await;
    let status_path = format!("/packages/{tn}/status");
    let put = raw(app, reqwest::Method::PUT, &status_path, JSON, b"not json").await;
    expect_error(put, 400).await;
    // Not an object.
    expect_error(app.post_json("/packages", &json!(["a"])).await, 422).await;
    // A number too large to be finite is an invalid value, not malformed JSON.
    let infinite = br#"{"status":"in_transit","latitude":1e999,"longitude":0}"#;
    let put = raw(app, reqwest::Method::PUT, &status_path, JSON, infinite).await;
    expect_error(put, 422).await;
}

async fn bad_package_fields_are_named(app: &TestApp, tn: &str) {
    // Missing required fields, each named.
    let mut missing = package_body(tn);
    missing.as_object_mut().unwrap().remove("sender_name");
    missing.as_object_mut().unwrap().remove("recipient_address");
    let message = expect_error(app.post_json("/packages", &missing).await, 422).await;
    assert!(
        message.contains("sender_name") && message.contains("recipient_address"),
        "{message}"
    );
    // Wrong types, named.
    let mut wrong = package_body(tn);
    wrong["weight"] = json!("heavy");
    wrong["sender_name"] = json!(42);
    let message = expect_error(app.post_json("/packages", &wrong).await, 422).await;
    assert!(
        message.contains("weight") && message.contains("sender_name"),
        "{message}"
    );
    // Invalid values.
    for (field, value) in [
        ("tracking_number", json!("TRK 12.34")),
        ("weight", json!(-1)),
        ("recipient_name", json!("   ")),
    ] {
        let mut bad = package_body(tn);
        bad[field] = value;
        assert!(expect_error(app.post_json("/packages", &bad).await, 422)
            .await
            .contains(field));
    }
}

async fn bad_status_updates_are_named(app: &TestApp, tn: &str) {
    let status_path = format!("/packages/{tn}/status");
    for (body, named) in [
        (json!({"status": "lost"}), "status"),
        (json!({}), "status"),
        (json!({"status": 3}), "status"),
        (
            json!({"status": "in_transit", "latitude": 91.0, "longitude": 0.0}),
            "latitude",
        ),
        (
            json!({"status": "in_transit", "latitude": 0.0, "longitude": -180.5}),
            "longitude",
        ),
        (
            json!({"status": "in_transit", "latitude": 1.0}),
            "longitude",
        ),
    ] {
        assert!(
            expect_error(app.put_json(&status_path, &body).await, 422)
                .await
                .contains(named),
            "{body}"
        );
    }
}

async fn size_and_content_type(app: &TestApp, tn: &str) {
    let mut huge = package_body(tn);
    huge["description"] = json!("x".repeat(70 * 1024));
    expect_error(app.post_json("/packages", &huge).await, 413).await;
    let body = serde_json::to_vec(&package_body(tn)).unwrap();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let post = raw(
            app,
            reqwest::Method::POST,
            "/packages",
            Some(content_type),
            &body,
        )
        .await;
        expect_error(post, 415).await;
    }
}

async fn routes_methods_and_queries(app: &TestApp, tn: &str) {
    expect_error(app.get("/nope").await, 404).await;
    let root = app.base.replace("/api/v1", "/");
    expect_error(app.http.get(root).send().await.unwrap(), 404).await;
    let not_allowed = app.http.delete(app.url("/packages")).send().await.unwrap();
    assert_eq!(not_allowed.headers()["allow"], "GET, POST");
    expect_error(not_allowed, 405).await;
    let package = app.url(&format!("/packages/{tn}"));
    expect_error(app.http.post(package).send().await.unwrap(), 405).await;
    for query in ["limit=0", "limit=ten", "status=lost", "cursor=garbage"] {
        expect_error(app.get(&format!("/packages?{query}")).await, 422).await;
    }
    // An impossible tracking number in a path names no package.
    expect_error(app.get("/packages/a.b").await, 404).await;
}

#[tokio::test]
async fn every_route_the_document_describes_is_served_and_the_document_too() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = served["paths"].as_object().expect("paths");
    let operations = paths.iter().flat_map(|(path, item)| {
        let methods = item.as_object().into_iter().flat_map(|m| m.keys());
        methods.map(move |method| (method.clone(), path.clone()))
    });
    for (method, path) in operations.collect::<Vec<_>>() {
        if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
            continue;
        }
        let url = format!(
            "{}{}",
            app.base.trim_end_matches("/api/v1"),
            path.replace("{tracking_number}", "TRKNOSUCH01")
        );
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.http.request(method.clone(), &url).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path} is routed");
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} is routed: {body}"
        );
    }
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "the served document is the committed one"
    );
    app.shutdown().await;
}
