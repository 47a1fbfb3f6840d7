//! End to end: ingest and workers against real RabbitMQ, PostgreSQL, Redis and
//! a MongoDB-protocol server, driven through the original API.

use serde_json::{json, Value};
use testkit::app::{expect_error, package_body, tracking_number, TestApp};

#[tokio::test]
async fn the_original_flow_works_end_to_end() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();

    let created = app.create(&tn).await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"],
        format!("/api/v1/packages/{tn}").as_str()
    );
    let package: Value = created.json().await.unwrap();
    assert_eq!(package["tracking_number"], tn.as_str());
    assert_eq!(package["status"], "pending");
    assert_eq!(package["sender_name"], "Ann Sender");
    assert_eq!(package["recipient_address"], "2 High St, Boston");
    assert_eq!(package["weight"], 2.5);
    assert_eq!(package["description"], "Books");
    assert!(package["current_location"].is_null());
    for field in ["id", "created_at", "updated_at"] {
        assert!(package[field].is_string(), "{field}");
    }

    let first = app.get(&format!("/packages/{tn}")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-cache"], "MISS");
    let first: Value = first.json().await.unwrap();
    let second = app.get(&format!("/packages/{tn}")).await;
    assert_eq!(second.headers()["x-cache"], "HIT");
    assert_eq!(
        second.json::<Value>().await.unwrap(),
        first,
        "the cached view is the database view"
    );

    let moved = app
        .put_json(
            &format!("/packages/{tn}/status"),
            &json!({"status": "in_transit", "location": "Newark Distribution Center", "latitude": 40.7357, "longitude": -74.1724}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    assert_eq!(
        moved.json::<Value>().await.unwrap(),
        json!({"message": "Package status updated successfully", "status": "in_transit"})
    );
    // The write invalidated the view: the next read is a fresh MISS with the new state.
    let after = app.get(&format!("/packages/{tn}")).await;
    assert_eq!(after.headers()["x-cache"], "MISS");
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["status"], "in_transit");
    assert_eq!(after["current_location"], "Newark Distribution Center");
    assert_eq!(after["latitude"], 40.7357);

    assert_eq!(app.set_status(&tn, "out_for_delivery").await.status(), 200);
    assert_eq!(app.set_status(&tn, "delivered").await.status(), 200);
    let refused = expect_error(app.set_status(&tn, "in_transit").await, 409).await;
    assert_eq!(refused, "cannot change status from delivered to in_transit");

    let events: Value = app
        .get(&format!("/packages/{tn}/events"))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["pending", "in_transit", "out_for_delivery", "delivered"]
    );
    assert_eq!(events[1]["location"], "Newark Distribution Center");

    let stats: Value = app.get("/stats").await.json().await.unwrap();
    assert_eq!(stats["total_packages"], 1);
    assert_eq!(stats["packages_today"], 1);
    assert_eq!(
        stats["status_counts"],
        json!({"pending": 0, "in_transit": 0, "out_for_delivery": 0, "delivered": 1, "failed": 0, "cancelled": 0})
    );

    let listed: Value = app.get("/packages").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["status"], "delivered");

    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    for part in ["status", "database", "redis", "mongodb", "rabbitmq"] {
        assert_eq!(health[part], "healthy", "{part}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn conflicts_and_unknown_packages() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    assert_eq!(app.create(&tn).await.status(), 201);
    let taken = expect_error(app.create(&tn).await, 409).await;
    assert!(taken.contains("already exists"), "{taken}");

    let unknown = tracking_number();
    expect_error(app.set_status(&unknown, "in_transit").await, 404).await;
    expect_error(app.get(&format!("/packages/{unknown}")).await, 404).await;
    expect_error(app.get(&format!("/packages/{unknown}/events")).await, 404).await;
    expect_error(app.set_status(&tn, "delivered").await, 409).await;
    assert_eq!(app.package_rows().await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_package_without_optional_fields_reads_back() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    let body = json!({
        "tracking_number": tn, "sender_name": "A", "sender_address": "B",
        "recipient_name": "C", "recipient_address": "D"
    });
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);
    let package: Value = app
        .get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "weight",
        "description",
        "current_location",
        "latitude",
        "longitude",
        "last_seen_at",
    ] {
        assert!(
            package[field].is_null(),
            "{field} should be null: {package}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_creates_once() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    let send = || {
        app.http
            .post(app.url("/packages"))
            .header("idempotency-key", "create-42")
            .json(&package_body(&tn))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retried = send().await.unwrap();
    assert_eq!(
        retried.status(),
        201,
        "a retry reports the original outcome, not a conflict"
    );
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["id"], first["id"]);
    assert_eq!(app.package_rows().await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn listing_is_newest_first_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    let numbers: Vec<String> = (0..5).map(|_| tracking_number()).collect();
    for tn in &numbers {
        assert_eq!(app.create(tn).await.status(), 201);
    }
    assert_eq!(
        app.set_status(&numbers[0], "in_transit").await.status(),
        200
    );

    let mut seen = vec![];
    let mut next = Some(app.url("/packages?limit=2"));
    let mut pages = 0;
    while let Some(url) = next {
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("rel=\"next\""), "{link}");
            let path = &link[link.find('<').unwrap() + 1..link.find('>').unwrap()];
            format!("{}{}", app.base.trim_end_matches("/api/v1"), path)
        });
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(
            page.into_iter()
                .map(|p| p["tracking_number"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        assert!(pages <= 4, "pagination must end");
    }
    let newest_first: Vec<String> = numbers.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let in_transit: Vec<Value> = app
        .get("/packages?status=in_transit")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(in_transit.len(), 1);
    assert_eq!(in_transit[0]["tracking_number"], numbers[0].as_str());
    let none: Value = app
        .get("/packages?status=delivered")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]), "an empty list is [], never null");
    app.shutdown().await;
}
