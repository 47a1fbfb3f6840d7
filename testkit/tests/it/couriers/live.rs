//! Couriers live on the WebSocket: a courier's watchers and the
//! every-package feed hear its moves and presence; the watchers of a package
//! aboard hear the package move with it (outsiders once it is out for
//! delivery); nobody else watches a courier.

use serde_json::{json, Value};
use shared::auth::{Caller, Role};
use std::time::Duration;
use testkit::app::{tracking_number, TestApp, WAIT};
use testkit::ws::{connect, hears_nothing, next_json, send, subscribe, Client, Endpoint};

/// The next frame `wanted` accepts, skipping others.
async fn heard(client: &mut Client, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(frame) = next_json(client, Duration::from_millis(500)).await {
            if wanted(&frame) {
                return frame;
            }
        }
    }
    panic!("never heard {what}");
}

/// Frames of `kind` heard within `quiet`, skipping others.
async fn none_of(client: &mut Client, quiet: Duration, wanted: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + quiet;
    while tokio::time::Instant::now() < deadline {
        if let Some(frame) = next_json(client, Duration::from_millis(200)).await {
            assert!(!wanted(&frame), "unexpected {frame}");
        }
    }
}

/// `GET path` as `caller`, its JSON body.
async fn read_as<T: serde::de::DeserializeOwned>(app: &TestApp, caller: &Caller, path: &str) -> T {
    app.client_as(caller)
        .get(app.url(path))
        .send()
        .await
        .expect("a read")
        .json()
        .await
        .expect("a JSON body")
}

async fn watch_courier(client: &mut Client, courier_id: uuid::Uuid) -> Value {
    send(
        client,
        json!({"type": "subscribe_courier", "courier_id": courier_id}),
    )
    .await;
    next_json(client, WAIT).await.expect("an answer")
}

async fn report(app: &TestApp, courier: &Caller, latitude: f64) {
    let response = app
        .client_as(courier)
        .post(app.url("/me/location"))
        .json(&json!({"latitude": latitude, "longitude": 13.4, "speed_mps": 7.5}))
        .send()
        .await
        .expect("POST /me/location");
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_courier_s_moves_reach_its_watchers_the_feed_and_the_packages_aboard() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (carl, dora) = (app.courier().await, app.courier().await);
    let out = tracking_number();
    let transit = tracking_number();
    for (tn, statuses) in [
        (&out, &["in_transit", "out_for_delivery"][..]),
        (&transit, &["in_transit"][..]),
    ] {
        app.created(tn).await;
        for status in statuses {
            app.status_changed(tn, json!({ "status": status })).await;
        }
    }
    app.deliver(&carl, &[&out, &transit]).await;

    let mut dispatch = connect(&broadcaster.url).await;
    assert_eq!(
        watch_courier(&mut dispatch, carl.user_id).await,
        json!({"type": "subscribed_courier", "courier_id": carl.user_id})
    );
    let mut feed = connect(&broadcaster.url).await;
    send(&mut feed, json!({"type": "subscribe_all"})).await;
    heard(&mut feed, "subscribed_all", |f| {
        f["type"] == "subscribed_all"
    })
    .await;
    let mut public = connect(&broadcaster.public_url()).await;
    subscribe(&mut public, &out).await;
    subscribe(&mut public, &transit).await;
    let mut staff = connect(&broadcaster.url).await;
    subscribe(&mut staff, &transit).await;
    // Dora watches herself; Carl's moves are not hers to hear.
    let dora_endpoint = Endpoint::new(&broadcaster.base_url, &app.env.token(&dora));
    let mut doras = connect(&dora_endpoint).await;
    assert_eq!(
        watch_courier(&mut doras, dora.user_id).await["type"],
        "subscribed_courier"
    );

    report(&app, &carl, 52.5).await;

    let moved = |f: &Value| f["type"] == "courier_update" && f["kind"] == "moved";
    // Carl comes online with his first report, and moves (in either order).
    let (mut update, mut online) = (None, None);
    while update.is_none() || online.is_none() {
        let frame = heard(&mut dispatch, "carl's move and presence", |f| {
            f["type"] == "courier_update"
        })
        .await;
        match frame["kind"].as_str() {
            Some("moved") => update = Some(frame),
            Some("presence") => online = Some(frame),
            _ => panic!("unexpected {frame}"),
        }
    }
    let (update, online) = (update.unwrap_or_default(), online.unwrap_or_default());
    assert_eq!(online["data"]["presence"], "online");
    assert_eq!(update["courier_id"], json!(carl.user_id));
    assert_eq!(update["data"]["points"][0]["latitude"], json!(52.5));
    assert_eq!(update["data"]["points"][0]["speed_mps"], json!(7.5));
    let mut aboard = update["data"]["packages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    aboard.sort_by_key(|v| v.to_string());
    let mut expected = vec![json!(out), json!(transit)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(aboard, expected);
    let fed = heard(&mut feed, "the move on the feed", moved).await;
    assert_eq!(fed["courier_id"], json!(carl.user_id));

    // The public page of the parcel out for delivery sees it move, without
    // the courier; the one still in transit does not move for outsiders.
    let position = |tn: &str| {
        let tn = tn.to_owned();
        move |f: &Value| f["type"] == "package_position" && f["tracking_number"] == json!(tn)
    };
    let moved_out = heard(
        &mut public,
        "the parcel out for delivery moving",
        position(&out),
    )
    .await;
    assert_eq!(moved_out["data"]["latitude"], json!(52.5));
    assert!(!moved_out.to_string().contains(&carl.user_id.to_string()));
    none_of(&mut public, Duration::from_secs(1), position(&transit)).await;
    // Staff watching the package in transit see it move.
    heard(
        &mut staff,
        "the package in transit moving",
        position(&transit),
    )
    .await;
    none_of(&mut doras, Duration::from_millis(500), |f| {
        f["type"] == "courier_update"
    })
    .await;

    // Unsubscribed, the dispatcher hears no more of Carl.
    send(
        &mut dispatch,
        json!({"type": "unsubscribe_courier", "courier_id": carl.user_id}),
    )
    .await;
    heard(&mut dispatch, "unsubscribed", |f| {
        f["type"] == "unsubscribed_courier"
    })
    .await;
    report(&app, &carl, 52.6).await;
    heard(&mut feed, "the next move on the feed", |f| {
        moved(f) && f["data"]["points"][0]["latitude"] == json!(52.6)
    })
    .await;
    hears_nothing(&mut dispatch, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn only_dispatch_and_the_courier_themselves_watch_a_courier() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (carl, dora) = (app.courier().await, app.courier().await);
    let customer = app.caller(Role::Customer).await;

    let mut doras = connect(&Endpoint::new(&broadcaster.base_url, &app.env.token(&dora))).await;
    let refused = watch_courier(&mut doras, carl.user_id).await;
    assert_eq!(refused["type"], "error");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("not found"),
        "{refused}"
    );

    let mut customers = connect(&Endpoint::new(
        &broadcaster.base_url,
        &app.env.token(&customer),
    ))
    .await;
    let refused = watch_courier(&mut customers, carl.user_id).await;
    assert_eq!(refused["type"], "error");

    let mut public = connect(&broadcaster.public_url()).await;
    assert_eq!(
        watch_courier(&mut public, carl.user_id).await["type"],
        "error"
    );

    // A customer's id is no courier's.
    let mut dispatch = connect(&broadcaster.url).await;
    let unknown = watch_courier(&mut dispatch, customer.user_id).await;
    assert!(
        unknown["error"]
            .as_str()
            .unwrap_or("")
            .contains("not found"),
        "{unknown}"
    );
    // Nor can a customer join the feed to hear couriers there.
    send(&mut customers, json!({"type": "subscribe_all"})).await;
    assert_eq!(
        next_json(&mut customers, WAIT).await.expect("an answer")["type"],
        "error"
    );
}

#[tokio::test]
async fn a_courier_who_sees_a_package_another_carries_learns_no_more_than_its_customer() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (carl, dora) = (app.courier().await, app.courier().await);
    let tn = tracking_number();
    app.created(&tn).await;
    app.status_changed(&tn, json!({ "status": "in_transit" }))
        .await;
    // Both runs are active and stop at the package: Dora may see it, but it
    // rides with Carl, on the newer run.
    app.deliver(&dora, &[&tn]).await;
    app.deliver(&carl, &[&tn]).await;
    let dora_endpoint = Endpoint::new(&broadcaster.base_url, &app.env.token(&dora));
    let mut doras = connect(&dora_endpoint).await;
    subscribe(&mut doras, &tn).await;
    let mut dispatch = connect(&broadcaster.url).await;
    subscribe(&mut dispatch, &tn).await;

    report(&app, &carl, 48.1).await;
    let seen = heard(&mut dispatch, "the package moving for dispatch", |f| {
        f["type"] == "package_position"
    })
    .await;
    assert_eq!(seen["data"]["latitude"], json!(48.1));
    assert_eq!(seen["data"]["speed_mps"], json!(7.5));
    none_of(&mut doras, Duration::from_secs(1), |f| {
        f["type"] == "package_position"
    })
    .await;

    // Her reads neither name Carl nor show his fix or his trail.
    let read: Value = read_as(&app, &dora, &format!("/packages/{tn}")).await;
    assert!(read.get("courier").is_none_or(Value::is_null), "{read}");
    assert_ne!(read["latitude"], json!(48.1), "{read}");
    let trail: Vec<Value> = read_as(&app, &dora, &format!("/packages/{tn}/locations")).await;
    assert!(
        trail.iter().all(|p| p["latitude"] != json!(48.1)),
        "{trail:?}"
    );
    // Dispatch reads Carl aboard.
    let read: Value = app
        .get(&format!("/packages/{tn}"))
        .await
        .json()
        .await
        .expect("the package");
    assert_eq!(read["courier"]["id"], json!(carl.user_id));
}
