//! The policy as a table: every role on every endpoint, a device's API key,
//! and the WebSocket, against the same packages, runs and devices.

use reqwest::{Client, Method};
use serde_json::{json, Value};
use shared::auth::{Caller, Role};
use testkit::app::{customer_package_body, package_body, tracking_number, TestApp, WAIT};
use testkit::ws::{self, next_json, send};

/// One value per role.
#[derive(Clone)]
struct Roles<T> {
    admin: T,
    dispatcher: T,
    courier: T,
    customer: T,
}

impl<T> Roles<T> {
    fn each(&self) -> [(&'static str, &T); 4] {
        [
            ("admin", &self.admin),
            ("dispatcher", &self.dispatcher),
            ("courier", &self.courier),
            ("customer", &self.customer),
        ]
    }

    fn map<U>(&self, f: impl Fn(&T) -> U) -> Roles<U> {
        Roles {
            admin: f(&self.admin),
            dispatcher: f(&self.dispatcher),
            courier: f(&self.courier),
            customer: f(&self.customer),
        }
    }
}

/// Expected statuses, in the table's column order: admin, dispatcher,
/// courier, customer.
fn want(admin: u16, dispatcher: u16, courier: u16, customer: u16) -> Roles<u16> {
    Roles {
        admin,
        dispatcher,
        courier,
        customer,
    }
}

/// What the table acts on.
struct World {
    callers: Roles<Caller>,
    /// Someone else's package, the customer's own, one the courier carries.
    others: String,
    own: String,
    carried: String,
    /// A stop for the runs the table creates.
    spare: String,
    carried_run: String,
    /// Another courier's run, which this courier may not read.
    other_run: String,
    rotated_device: String,
    /// A device for each role to revoke (the courier and customer may not).
    revoked: Roles<String>,
    device_key: String,
    /// An account to change.
    changed: Caller,
}

async fn world(app: &TestApp) -> World {
    let courier = app.courier().await;
    let callers = Roles {
        admin: app.caller(Role::Admin).await,
        dispatcher: app.caller(Role::Dispatcher).await,
        courier: courier.clone(),
        customer: app.caller(Role::Customer).await,
    };
    let customer = app.client_as(&callers.customer);
    let [others, carried, spare, elsewhere] = [(); 4].map(|_| tracking_number());
    for tn in [&others, &carried, &spare, &elsewhere] {
        app.created(tn).await;
    }
    let own = app
        .create_as_customer(&customer, customer_package_body())
        .await;
    let run_id = |run: Value| run["id"].as_str().unwrap().to_owned();
    let carried_run = run_id(app.deliver(&courier, &[&carried]).await);
    let other_run = run_id(app.deliver(&app.courier().await, &[&elsewhere]).await);
    let mut devices = Vec::new();
    for _ in 0..4 {
        devices.push(app.register_device(courier.user_id, "table tracker").await);
    }
    let device_key = devices[3].1.clone();
    let never_revoked = devices[3].0.clone();
    World {
        revoked: Roles {
            admin: devices[1].0.clone(),
            dispatcher: devices[2].0.clone(),
            courier: never_revoked.clone(),
            customer: never_revoked,
        },
        rotated_device: devices[0].0.clone(),
        device_key,
        changed: app.caller(Role::Customer).await,
        callers,
        others,
        own,
        carried,
        spare,
        carried_run,
        other_run,
    }
}

fn point() -> Value {
    json!({"latitude": 40.7, "longitude": -74.0})
}

fn batch(tn: &str) -> Value {
    json!([{"tracking_number": tn, "latitude": 40.7, "longitude": -74.0}])
}

fn new_user(role: &str) -> Value {
    json!({"email": format!("{role}-{}@example.com", tracking_number()), "password": "long enough password", "name": "N", "role": role})
}

/// One row: a request and what each role gets.
struct Row {
    method: Method,
    path: Roles<String>,
    body: Value,
    expected: Roles<u16>,
}

fn row(method: Method, path: String, body: Value, expected: Roles<u16>) -> Row {
    let path = Roles {
        admin: path.clone(),
        dispatcher: path.clone(),
        courier: path.clone(),
        customer: path,
    };
    Row {
        method,
        path,
        body,
        expected,
    }
}

#[rustfmt::skip]
fn rows(w: &World) -> Vec<Row> {
    let (others, own, carried) = (&w.others, &w.own, &w.carried);
    let day = chrono::Utc::now().date_naive().to_string();
    let run = json!({"courier_id": w.callers.courier.user_id, "day": day, "stops": [w.spare]});
    let device = json!({"name": "van tracker", "courier_id": w.callers.courier.user_id});
    let status = |s: &str| json!({ "status": s });
    let zone = json!({"name": "Depot", "circle": {"latitude": 40.7, "longitude": -74.0, "radius_m": 100.0}});
    let none = Value::Null;
    let revoke = w.revoked.map(|id| format!("/devices/{id}"));
    vec![
        row(Method::POST, "/packages".into(), none.clone(), want(201, 201, 403, 201)),
        row(Method::GET, format!("/packages/{others}"), none.clone(), want(200, 200, 404, 404)),
        row(Method::GET, format!("/packages/{own}"), none.clone(), want(200, 200, 404, 200)),
        row(Method::GET, format!("/packages/{carried}"), none.clone(), want(200, 200, 200, 404)),
        row(Method::PATCH, format!("/packages/{own}"), json!({"promised_by": null}), want(200, 200, 403, 403)),
        row(Method::PATCH, format!("/packages/{carried}"), json!({"destination": null}), want(200, 200, 403, 403)),
        row(Method::GET, format!("/packages/{others}/events"), none.clone(), want(200, 200, 404, 404)),
        row(Method::GET, format!("/packages/{own}/events"), none.clone(), want(200, 200, 404, 200)),
        row(Method::GET, format!("/packages/{carried}/locations"), none.clone(), want(200, 200, 200, 404)),
        row(Method::GET, format!("/packages/{others}/locations"), none.clone(), want(200, 200, 404, 404)),
        row(Method::POST, format!("/packages/{others}/locations"), point(), want(202, 202, 404, 403)),
        row(Method::POST, format!("/packages/{carried}/locations"), point(), want(202, 202, 202, 403)),
        row(Method::POST, "/locations".into(), batch(others), want(202, 202, 404, 403)),
        row(Method::POST, "/locations".into(), batch(carried), want(202, 202, 202, 403)),
        row(Method::GET, "/locations/near?lat=40.7&lon=-74&radius_m=1000".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::GET, "/locations/within?bbox=-75,40,-73,41".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::GET, "/stats".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::GET, "/packages".into(), none.clone(), want(200, 200, 200, 200)),
        row(Method::POST, "/users".into(), none.clone(), want(201, 403, 403, 403)),
        row(Method::POST, "/deliveries".into(), run, want(201, 201, 403, 403)),
        row(Method::GET, "/deliveries".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::GET, "/me/deliveries".into(), none.clone(), want(200, 200, 200, 200)),
        row(Method::GET, format!("/deliveries/{}", w.carried_run), none.clone(), want(200, 200, 200, 403)),
        row(Method::PATCH, format!("/deliveries/{}", w.carried_run), json!({"stops": [carried]}), want(200, 200, 403, 403)),
        row(Method::POST, "/devices".into(), device, want(201, 201, 403, 403)),
        row(Method::GET, "/devices".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::GET, format!("/deliveries/{}", w.other_run), none.clone(), want(200, 200, 404, 403)),
        row(Method::GET, "/users".into(), none.clone(), want(200, 403, 403, 403)),
        row(Method::PATCH, format!("/users/{}", w.changed.user_id), json!({"role": "customer"}), want(200, 403, 403, 403)),
        row(Method::POST, format!("/devices/{}/rotate", w.rotated_device), json!({}), want(200, 200, 403, 403)),
        Row { method: Method::DELETE, path: revoke, body: none.clone(), expected: want(200, 200, 403, 403) },
        row(Method::POST, "/ws-ticket".into(), none.clone(), want(200, 200, 200, 200)),
        row(Method::POST, "/auth/verify-email/resend".into(), none.clone(), want(202, 202, 202, 202)),
        row(Method::GET, "/audit".into(), none.clone(), want(200, 403, 403, 403)),
        row(Method::POST, "/geofences".into(), zone, want(201, 201, 403, 403)),
        row(Method::GET, "/geofences".into(), none.clone(), want(200, 200, 403, 403)),
        row(Method::PATCH, "/geofences/00000000-0000-0000-0000-000000000001".into(), json!({"name": "x"}), want(404, 404, 403, 403)),
        row(Method::POST, "/webhooks".into(), json!({"url": "http://127.0.0.1:9/hook", "events": ["created"]}), want(201, 201, 403, 201)),
        row(Method::GET, "/webhooks".into(), none.clone(), want(200, 200, 403, 200)),
        row(Method::PATCH, "/webhooks/00000000-0000-0000-0000-000000000001".into(), json!({"paused": true}), want(404, 404, 403, 404)),
        // Status changes last: each applied one moves the package on. The
        // admin cancels the customer's package; cancelled is final, so the
        // dispatcher's cancel is a conflict; the courier does not carry it.
        row(Method::PUT, format!("/packages/{own}/status"), status("cancelled"), want(200, 409, 404, 403)),
        row(Method::PUT, format!("/packages/{carried}/status"), status("in_transit"), want(200, 200, 200, 403)),
        row(Method::PUT, format!("/packages/{others}/status"), status("in_transit"), want(200, 200, 404, 403)),
    ]
}

/// The body `role` sends on `row`: fresh where a repeat would collide.
fn body_for(row: &Row, role: &str) -> Value {
    match (&row.method, row.path.admin.as_str(), role) {
        (&Method::POST, "/packages", "customer") => customer_package_body(),
        (&Method::POST, "/packages", _) => package_body(&tracking_number()),
        (&Method::POST, "/users", _) => new_user("courier"),
        _ => row.body.clone(),
    }
}

/// The tracking numbers `client` lists.
async fn listed(app: &TestApp, client: &Client) -> Vec<String> {
    let response = client
        .get(app.url("/packages?limit=1000"))
        .send()
        .await
        .unwrap();
    let packages: Value = response.json().await.expect("a JSON body");
    let numbers = packages.as_array().unwrap().iter();
    numbers
        .map(|p| p["tracking_number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_role_gets_what_the_policy_table_says_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let clients = w.callers.map(|caller| app.client_as(caller));
    let mut problems = Vec::new();
    for row in rows(&w) {
        let paths = row.path.each();
        let wanted = row.expected.each();
        for (((role, client), (_, path)), (_, want)) in
            clients.each().into_iter().zip(paths).zip(wanted)
        {
            let body = body_for(&row, role);
            let mut request = client.request(row.method.clone(), app.url(path));
            if !body.is_null() {
                request = request.json(&body);
            }
            let got = request.send().await.unwrap().status().as_u16();
            if got != *want {
                problems.push(format!(
                    "{} {path} as {role}: {got}, expected {want}",
                    row.method
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "policy table violations:\n{}",
        problems.join("\n")
    );

    // Listings hold what each role may see, and nothing else.
    let (others, own, carried) = (&w.others, &w.own, &w.carried);
    let customers = listed(&app, &clients.customer).await;
    assert!(customers.contains(own) && !customers.contains(others) && !customers.contains(carried));
    assert!(
        customers.len() >= 2,
        "their own packages, the one created in the table too"
    );
    let mut couriers = listed(&app, &clients.courier).await;
    couriers.sort();
    let mut runs = vec![carried.clone(), w.spare.clone()];
    runs.sort();
    assert_eq!(couriers, runs, "the courier lists the packages of its runs");
    let everything = listed(&app, &clients.admin).await;
    assert!(
        everything.contains(others) && everything.contains(own) && everything.contains(carried)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_device_key_posts_locations_for_its_couriers_runs_and_nothing_else() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let (others, carried) = (&w.others, &w.carried);
    let with_key = |method: Method, path: &str| {
        let request = Client::new().request(method, app.url(path));
        request.header("authorization", format!("ApiKey {}", w.device_key))
    };
    let device_row = [
        (
            with_key(Method::POST, &format!("/packages/{carried}/locations")).json(&point()),
            202,
        ),
        (
            with_key(Method::POST, &format!("/packages/{others}/locations")).json(&point()),
            404,
        ),
        (
            with_key(Method::POST, "/locations").json(&batch(carried)),
            202,
        ),
        (
            with_key(Method::POST, "/locations").json(&batch(others)),
            404,
        ),
        (with_key(Method::GET, &format!("/packages/{carried}")), 403),
        (
            with_key(Method::PUT, &format!("/packages/{carried}/status"))
                .json(&json!({"status": "delivered"})),
            403,
        ),
        (with_key(Method::GET, "/me/deliveries"), 403),
    ];
    let mut problems = Vec::new();
    for (index, (request, want)) in device_row.into_iter().enumerate() {
        let got = request.send().await.unwrap().status().as_u16();
        if got != want {
            problems.push(format!(
                "device key, request {index}: {got}, expected {want}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "device key violations:\n{}",
        problems.join("\n")
    );
    app.shutdown().await;
}

/// What a subscribe as `token` to `tn` is answered: `subscribed`, or the
/// error's words.
async fn subscribe_answer(url: &str, token: &str, tn: &str) -> String {
    let mut client = ws::connect(&ws::Endpoint::new(url, token)).await;
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": tn}),
    )
    .await;
    let answer = next_json(&mut client, WAIT).await.expect("an answer");
    match answer["type"].as_str() {
        Some("subscribed") => "subscribed".to_owned(),
        _ => answer["error"].as_str().unwrap_or("?").to_owned(),
    }
}

#[tokio::test]
async fn a_websocket_subscribe_is_granted_exactly_where_a_read_is() {
    let mut app = TestApp::spawn().await;
    let w = world(&app).await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (others, own, carried) = (&w.others, &w.own, &w.carried);
    let not_found = |tn: &str| format!("package {tn} not found");
    let subscribed = || "subscribed".to_owned();
    let expected = Roles {
        admin: [subscribed(), subscribed(), subscribed()],
        dispatcher: [subscribed(), subscribed(), subscribed()],
        courier: [not_found(others), not_found(own), subscribed()],
        customer: [not_found(others), subscribed(), not_found(carried)],
    };
    let mut problems = Vec::new();
    for ((role, caller), (_, wanted)) in w.callers.each().into_iter().zip(expected.each()) {
        let token = app.env.token(caller);
        for (tn, want) in [others, own, carried].into_iter().zip(wanted) {
            let got = subscribe_answer(&broadcaster.base_url, &token, tn).await;
            if got != *want {
                problems.push(format!(
                    "WebSocket subscribe {tn} as {role}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "WebSocket violations:\n{}",
        problems.join("\n")
    );
    app.shutdown().await;
}
