//! Every bad input gets its status code and a JSON error, and nothing is
//! published or persisted. No workers run here, so anything published would
//! still sit in the queues.

use serde_json::json;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp};

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_published() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let tn = tracking_number();
    let raw = |method: reqwest::Method, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = app.http.request(method, app.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json_ct = Some("application/json");

    // Malformed JSON.
    expect_error(
        raw(
            reqwest::Method::POST,
            "/packages",
            json_ct,
            b"{\"tracking_number\": ".to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    expect_error(
        raw(
            reqwest::Method::PUT,
            &format!("/packages/{tn}/status"),
            json_ct,
            b"not json".to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    // Not an object.
    expect_error(app.post_json("/packages", &json!(["a"])).await, 422).await;
    // Missing required fields, each named.
    let mut missing = package_body(&tn);
    missing.as_object_mut().unwrap().remove("sender_name");
    missing.as_object_mut().unwrap().remove("recipient_address");
    let message = expect_error(app.post_json("/packages", &missing).await, 422).await;
    assert!(
        message.contains("sender_name") && message.contains("recipient_address"),
        "{message}"
    );
    // Wrong types, named.
    let mut wrong = package_body(&tn);
    wrong["weight"] = json!("heavy");
    wrong["sender_name"] = json!(42);
    let message = expect_error(app.post_json("/packages", &wrong).await, 422).await;
    assert!(
        message.contains("weight") && message.contains("sender_name"),
        "{message}"
    );
    // Invalid values.
    let mut bad = package_body(&tn);
    bad["tracking_number"] = json!("TRK 12.34");
    assert!(expect_error(app.post_json("/packages", &bad).await, 422)
        .await
        .contains("tracking_number"));
    let mut bad = package_body(&tn);
    bad["weight"] = json!(-1);
    assert!(expect_error(app.post_json("/packages", &bad).await, 422)
        .await
        .contains("weight"));
    let mut bad = package_body(&tn);
    bad["recipient_name"] = json!("   ");
    assert!(expect_error(app.post_json("/packages", &bad).await, 422)
        .await
        .contains("recipient_name"));
    // Status updates.
    let status_path = format!("/packages/{tn}/status");
    assert!(expect_error(
        app.put_json(&status_path, &json!({"status": "lost"})).await,
        422
    )
    .await
    .contains("status"));
    assert!(
        expect_error(app.put_json(&status_path, &json!({})).await, 422)
            .await
            .contains("status")
    );
    assert!(
        expect_error(app.put_json(&status_path, &json!({"status": 3})).await, 422)
            .await
            .contains("status")
    );
    let out_of_range = json!({"status": "in_transit", "latitude": 91.0, "longitude": 0.0});
    assert!(
        expect_error(app.put_json(&status_path, &out_of_range).await, 422)
            .await
            .contains("latitude")
    );
    let out_of_range = json!({"status": "in_transit", "latitude": 0.0, "longitude": -180.5});
    assert!(
        expect_error(app.put_json(&status_path, &out_of_range).await, 422)
            .await
            .contains("longitude")
    );
    let half = json!({"status": "in_transit", "latitude": 1.0});
    assert!(expect_error(app.put_json(&status_path, &half).await, 422)
        .await
        .contains("longitude"));
    // A number too large to be finite is an invalid value, not malformed JSON.
    expect_error(
        raw(
            reqwest::Method::PUT,
            &status_path,
            json_ct,
            br#"{"status":"in_transit","latitude":1e999,"longitude":0}"#.to_vec(),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    // Size and content type.
    let mut huge = package_body(&tn);
    huge["description"] = json!("x".repeat(70 * 1024));
    expect_error(app.post_json("/packages", &huge).await, 413).await;
    let body = serde_json::to_vec(&package_body(&tn)).unwrap();
    expect_error(
        raw(
            reqwest::Method::POST,
            "/packages",
            Some("text/plain"),
            body.clone(),
        )
        .await
        .unwrap(),
        415,
    )
    .await;
    expect_error(
        raw(
            reqwest::Method::POST,
            "/packages",
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await
        .unwrap(),
        415,
    )
    .await;
    // Routes and methods.
    expect_error(app.get("/nope").await, 404).await;
    expect_error(
        app.http
            .get(app.base.replace("/api/v1", "/"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let not_allowed = app.http.delete(app.url("/packages")).send().await.unwrap();
    assert_eq!(not_allowed.headers()["allow"], "GET, POST");
    expect_error(not_allowed, 405).await;
    expect_error(
        app.http
            .post(app.url(&format!("/packages/{tn}")))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    // Query parameters.
    expect_error(app.get("/packages?limit=0").await, 422).await;
    expect_error(app.get("/packages?limit=ten").await, 422).await;
    expect_error(app.get("/packages?status=lost").await, 422).await;
    expect_error(app.get("/packages?cursor=garbage").await, 422).await;
    // An impossible tracking number in a path names no package.
    expect_error(app.get("/packages/a.b").await, 404).await;

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
