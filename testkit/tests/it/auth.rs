//! Authentication and authorization as users meet them: sign-up and sign-in,
//! tokens that must be refused, the role × endpoint table, no existence
//! leaks, CORS and security headers, the workers' second check, and the
//! broadcaster's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use shared::auth::token::now;
use shared::auth::{Caller, Role};
use std::time::Duration;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp, WAIT};
use testkit::caller;
use testkit::ws::{self, close_frame, next_json, send, subscribe};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// A package body without a tracking number: what a customer sends (the
/// server assigns theirs).
fn customer_package_body() -> Value {
    let mut body = package_body("unused");
    body.as_object_mut().unwrap().remove("tracking_number");
    body
}

/// Creates a package as a customer and returns its (assigned) number.
async fn create_as_customer(app: &TestApp, client: &Client, body: Value) -> String {
    let package = create_as(app, client, body).await;
    package["tracking_number"].as_str().unwrap().to_owned()
}

/// Creates a package as `client` and insists on 201.
async fn create_as(app: &TestApp, client: &Client, body: Value) -> Value {
    let response = client
        .post(app.url("/packages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create");
    json_of(response).await
}

#[tokio::test]
async fn people_sign_up_sign_in_and_act_with_their_token() {
    let app = TestApp::spawn().await;
    let anonymous = Client::new();
    let register = |body: Value| anonymous.post(app.url("/auth/register")).json(&body).send();
    let email = format!("Ann.{}@Example.com", &tracking_number()[3..]);
    let password = "correct horse battery";
    let created = register(json!({"email": email, "password": password, "name": "Ann"}))
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let answer = json_of(created).await;
    assert!(answer.get("password_hash").is_none() && answer.get("password").is_none());
    let (id, role, stored): (uuid::Uuid, String, String) = testkit::eventually(
        testkit::app::WAIT,
        "the account, made by the workers",
        || async {
            sqlx::query_as("SELECT id, role, password_hash FROM users WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&app.env.pool)
                .await
                .unwrap()
        },
    )
    .await;
    let account = json!({"id": id.to_string()});
    assert_eq!(role, "customer", "emails are kept lower-cased");
    assert!(stored.starts_with("$argon2id$") && !stored.contains(password));

    // The same email again: the same answer (the mail tells its owner).
    let again =
        register(json!({"email": email.to_uppercase(), "password": password, "name": "Ann"}));
    let again = again.await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(json_of(again).await, answer);
    let weak = register(json!({"email": "weak@example.com", "password": "short", "name": "W"}));
    assert!(expect_error(weak.await.unwrap(), 422)
        .await
        .contains("password"));
    let malformed = register(json!({"email": "not-an-email", "password": password, "name": "M"}));
    assert!(expect_error(malformed.await.unwrap(), 422)
        .await
        .contains("email"));

    let login = |email: &str, password: &str| {
        anonymous
            .post(app.url("/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let wrong_password = expect_error(login(&email, "wrong password!").await.unwrap(), 401).await;
    let unknown_email =
        expect_error(login("nobody@example.com", password).await.unwrap(), 401).await;
    assert_eq!(
        wrong_password, unknown_email,
        "one message whether the email exists or not"
    );

    let signed_in = login(&email, password).await.unwrap();
    assert_eq!(signed_in.status(), 200);
    let token = json_of(signed_in).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(
        token["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("dtr_")),
        "{token}"
    );
    let client = testkit::app::client_with_token(token["access_token"].as_str().unwrap());

    let package = create_as(&app, &client, customer_package_body()).await;
    assert_eq!(package["owner_id"], account["id"]);
    let tn = package["tracking_number"].as_str().unwrap().to_owned();
    let read = client
        .get(app.url(&format!("/packages/{tn}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["cache-control"], "no-store");
    let events = json_of(
        client
            .get(app.url(&format!("/packages/{tn}/events")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        events[0]["actor"], account["id"],
        "the history says who made each change"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn without_credentials_every_write_and_every_non_public_read_is_401() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let anonymous = Client::new();
    let protected = [
        (Method::GET, "/packages".to_owned()),
        (Method::POST, "/packages".to_owned()),
        (Method::GET, format!("/packages/{tn}")),
        (Method::PUT, format!("/packages/{tn}/status")),
        (Method::GET, format!("/packages/{tn}/events")),
        (Method::GET, format!("/packages/{tn}/locations")),
        (Method::POST, format!("/packages/{tn}/locations")),
        (Method::POST, "/locations".to_owned()),
        (
            Method::GET,
            "/locations/near?lat=1&lon=1&radius_m=10".to_owned(),
        ),
        (Method::GET, "/locations/within?bbox=0,0,1,1".to_owned()),
        (Method::GET, "/stats".to_owned()),
        (Method::POST, "/users".to_owned()),
    ];
    for (method, path) in &protected {
        let response = anonymous
            .request(method.clone(), app.url(path))
            .json(&json!({"status": "in_transit", "latitude": 1.0, "longitude": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
        let message = expect_error(response, 401).await;
        assert!(
            message.contains("authentication required"),
            "{method} {path}: {message}"
        );
    }
    for public in ["/health", "/openapi.json"] {
        let response = anonymous.get(app.url(public)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{public} is public");
    }
    assert_eq!(app.package_rows().await, 1, "nothing anonymous was applied");
    app.shutdown().await;
}

#[tokio::test]
async fn forged_tampered_unsigned_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.caller(Role::Admin).await;
    let valid = app.env.token(&admin);
    let [header, claims, _signature] =
        <[&str; 3]>::try_from(valid.split('.').collect::<Vec<_>>()).expect("a JWT has three parts");

    let other_key = shared::auth::Tokens::hs256(
        b"another deployment's secret, 32+ bytes",
        Duration::from_secs(60),
    )
    .issue(&admin)
    .unwrap()
    .token;
    let customer = app.caller(Role::Customer).await;
    let customer_token = app.env.token(&customer);
    let customer_parts: Vec<&str> = customer_token.split('.').collect();
    let promoted = String::from_utf8(B64.decode(customer_parts[1]).unwrap())
        .unwrap()
        .replace("\"customer\"", "\"admin\"");
    let tampered = format!(
        "{}.{}.{}",
        customer_parts[0],
        B64.encode(promoted),
        customer_parts[2]
    );
    let unsigned = format!("{}.{claims}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    let _ = header;
    let expired = app
        .env
        .tokens()
        .issue_at(&admin, now() - 7200, Duration::from_secs(3600))
        .unwrap()
        .token;

    for (what, token) in [
        ("signed with another key", other_key),
        ("claims edited after signing", tampered),
        ("alg: none", unsigned),
        ("expired", expired.clone()),
        ("not a JWT", "garbage".to_owned()),
    ] {
        let response = testkit::app::client_with_token(&token)
            .get(app.url("/stats"))
            .send()
            .await
            .unwrap();
        let message = expect_error(response, 401).await;
        if what == "expired" {
            assert!(message.contains("expired"), "{message}");
        }
    }
    let wrong_scheme = Client::new()
        .get(app.url("/stats"))
        .header("authorization", format!("Basic {valid}"))
        .send()
        .await
        .unwrap();
    expect_error(wrong_scheme, 401).await;
    let accepted = testkit::app::client_with_token(&valid)
        .get(app.url("/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200, "the untouched token works");
    app.shutdown().await;
}

/// One row of the role × endpoint table: the expected status for admin,
/// dispatcher, courier and customer.
struct Cell {
    method: Method,
    path: String,
    body: Value,
    expected: [u16; 4],
    /// A path of each role's own, where one role's request would change
    /// what the next one finds (revoking a device).
    per_role: Option<[String; 4]>,
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
async fn every_role_gets_what_the_policy_table_says_on_every_endpoint() {
    let mut app = TestApp::spawn().await;
    let roles = [
        app.caller(Role::Admin).await,
        app.caller(Role::Dispatcher).await,
        app.courier().await,
        app.caller(Role::Customer).await,
    ];
    let clients = roles.clone().map(|c| app.client_as(&c));
    let courier = &roles[2];
    // Someone else's package, the customer's own, and one the courier carries.
    let others = tracking_number();
    app.created(&others).await;
    let own = create_as_customer(&app, &clients[3], customer_package_body()).await;
    let carried = tracking_number();
    app.created(&carried).await;
    let carried_run = app.deliver(courier, &[&carried]).await;
    let carried_run = carried_run["id"].as_str().unwrap().to_owned();
    // Stops for the deliveries the table creates (rights over it change nothing below).
    let spare = tracking_number();
    app.created(&spare).await;
    let device = json!({"name": "van tracker", "courier_id": courier.user_id});
    // Another courier's run, which this courier may not read.
    let other_courier = app.courier().await;
    let elsewhere = tracking_number();
    app.created(&elsewhere).await;
    let other_run = app.deliver(&other_courier, &[&elsewhere]).await;
    let other_run = other_run["id"].as_str().unwrap().to_owned();
    // Devices to rotate, and one of each role's own to revoke.
    let (rotated, _) = app.register_device(courier.user_id, "table tracker").await;
    let (revoked_by_admin, _) = app.register_device(courier.user_id, "table tracker").await;
    let (revoked_by_dispatcher, _) = app.register_device(courier.user_id, "table tracker").await;
    let (never_revoked, device_key) = app.register_device(courier.user_id, "table tracker").await;
    // An account to change.
    let changed = app.caller(Role::Customer).await;
    let run = json!({"courier_id": courier.user_id, "day": chrono::Utc::now().date_naive().to_string(), "stops": [spare]});

    let point = json!({"latitude": 40.7, "longitude": -74.0});
    let batch = |tn: &str| json!([{"tracking_number": tn, "latitude": 40.7, "longitude": -74.0}]);
    let row = |method: Method, path: String, body: Value, expected: [u16; 4]| Cell {
        method,
        path,
        body,
        expected,
        per_role: None,
    };
    let status = |s: &str| json!({ "status": s });
    let new_user = |role: &str| json!({"email": format!("{role}-{}@example.com", tracking_number()), "password": "long enough password", "name": "N", "role": role});
    let table = [
        row(
            Method::POST,
            "/packages".into(),
            Value::Null,
            [201, 201, 403, 201],
        ),
        row(
            Method::GET,
            format!("/packages/{others}"),
            Value::Null,
            [200, 200, 404, 404],
        ),
        row(
            Method::GET,
            format!("/packages/{own}"),
            Value::Null,
            [200, 200, 404, 200],
        ),
        row(
            Method::GET,
            format!("/packages/{carried}"),
            Value::Null,
            [200, 200, 200, 404],
        ),
        row(
            Method::GET,
            format!("/packages/{others}/events"),
            Value::Null,
            [200, 200, 404, 404],
        ),
        row(
            Method::GET,
            format!("/packages/{own}/events"),
            Value::Null,
            [200, 200, 404, 200],
        ),
        row(
            Method::GET,
            format!("/packages/{carried}/locations"),
            Value::Null,
            [200, 200, 200, 404],
        ),
        row(
            Method::GET,
            format!("/packages/{others}/locations"),
            Value::Null,
            [200, 200, 404, 404],
        ),
        row(
            Method::POST,
            format!("/packages/{others}/locations"),
            point.clone(),
            [202, 202, 404, 403],
        ),
        row(
            Method::POST,
            format!("/packages/{carried}/locations"),
            point.clone(),
            [202, 202, 202, 403],
        ),
        row(
            Method::POST,
            "/locations".into(),
            batch(&others),
            [202, 202, 404, 403],
        ),
        row(
            Method::POST,
            "/locations".into(),
            batch(&carried),
            [202, 202, 202, 403],
        ),
        row(
            Method::GET,
            "/locations/near?lat=40.7&lon=-74&radius_m=1000".into(),
            Value::Null,
            [200, 200, 403, 403],
        ),
        row(
            Method::GET,
            "/locations/within?bbox=-75,40,-73,41".into(),
            Value::Null,
            [200, 200, 403, 403],
        ),
        row(
            Method::GET,
            "/stats".into(),
            Value::Null,
            [200, 200, 403, 403],
        ),
        row(
            Method::GET,
            "/packages".into(),
            Value::Null,
            [200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/users".into(),
            new_user("courier"),
            [201, 403, 403, 403],
        ),
        row(
            Method::POST,
            "/deliveries".into(),
            run.clone(),
            [201, 201, 403, 403],
        ),
        row(
            Method::GET,
            "/deliveries".into(),
            Value::Null,
            [200, 200, 403, 403],
        ),
        row(
            Method::GET,
            "/me/deliveries".into(),
            Value::Null,
            [200, 200, 200, 200],
        ),
        row(
            Method::GET,
            format!("/deliveries/{carried_run}"),
            Value::Null,
            [200, 200, 200, 403],
        ),
        row(
            Method::PATCH,
            format!("/deliveries/{carried_run}"),
            json!({"stops": [carried]}),
            [200, 200, 403, 403],
        ),
        row(
            Method::POST,
            "/devices".into(),
            device.clone(),
            [201, 201, 403, 403],
        ),
        row(
            Method::GET,
            "/devices".into(),
            Value::Null,
            [200, 200, 403, 403],
        ),
        row(
            Method::GET,
            format!("/deliveries/{other_run}"),
            Value::Null,
            [200, 200, 404, 403],
        ),
        row(
            Method::GET,
            "/users".into(),
            Value::Null,
            [200, 403, 403, 403],
        ),
        row(
            Method::PATCH,
            format!("/users/{}", changed.user_id),
            json!({"role": "customer"}),
            [200, 403, 403, 403],
        ),
        row(
            Method::POST,
            format!("/devices/{rotated}/rotate"),
            json!({}),
            [200, 200, 403, 403],
        ),
        Cell {
            per_role: Some([
                format!("/devices/{revoked_by_admin}"),
                format!("/devices/{revoked_by_dispatcher}"),
                format!("/devices/{never_revoked}"),
                format!("/devices/{never_revoked}"),
            ]),
            ..row(
                Method::DELETE,
                "/devices/{id}".into(),
                Value::Null,
                [200, 200, 403, 403],
            )
        },
        row(
            Method::POST,
            "/ws-ticket".into(),
            Value::Null,
            [200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/auth/verify-email/resend".into(),
            Value::Null,
            [202, 202, 202, 202],
        ),
        row(
            Method::GET,
            "/audit".into(),
            Value::Null,
            [200, 403, 403, 403],
        ),
        // Status changes last: each applied one moves the package on.
        // The admin cancels the customer's package; cancelled is final, so the
        // dispatcher's cancel is a conflict; the courier does not carry it.
        row(
            Method::PUT,
            format!("/packages/{own}/status"),
            status("cancelled"),
            [200, 409, 404, 403],
        ),
        row(
            Method::PUT,
            format!("/packages/{carried}/status"),
            status("in_transit"),
            [200, 200, 200, 403],
        ),
        row(
            Method::PUT,
            format!("/packages/{others}/status"),
            status("in_transit"),
            [200, 200, 404, 403],
        ),
    ];
    let mut problems = Vec::new();
    for cell in table {
        for (index, client) in clients.iter().enumerate() {
            let body = match (&cell.method, cell.path.as_str()) {
                (&Method::POST, "/packages") if index == 3 => customer_package_body(),
                (&Method::POST, "/packages") => package_body(&tracking_number()),
                (_, "/users") => new_user("courier"),
                _ => cell.body.clone(),
            };
            let path = cell
                .per_role
                .as_ref()
                .map_or(cell.path.as_str(), |paths| paths[index].as_str());
            let mut request = client.request(cell.method.clone(), app.url(path));
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let got = response.status().as_u16();
            let want = cell.expected[index];
            if got != want {
                problems.push(format!(
                    "{} {} as {}: {got}, expected {want}",
                    cell.method, cell.path, roles[index].role
                ));
            }
        }
    }
    // The device-key row: location posts for the courier's runs only,
    // nothing else.
    let with_key = |method: Method, path: &str| {
        reqwest::Client::new()
            .request(method, app.url(path))
            .header("authorization", format!("ApiKey {device_key}"))
    };
    let device_row = [
        (
            with_key(Method::POST, &format!("/packages/{carried}/locations")).json(&point),
            202,
        ),
        (
            with_key(Method::POST, &format!("/packages/{others}/locations")).json(&point),
            404,
        ),
        (
            with_key(Method::POST, "/locations").json(&batch(&carried)),
            202,
        ),
        (
            with_key(Method::POST, "/locations").json(&batch(&others)),
            404,
        ),
        (with_key(Method::GET, &format!("/packages/{carried}")), 403),
        (
            with_key(Method::PUT, &format!("/packages/{carried}/status"))
                .json(&status("delivered")),
            403,
        ),
        (with_key(Method::GET, "/me/deliveries"), 403),
    ];
    for (index, (request, want)) in device_row.into_iter().enumerate() {
        let got = request.send().await.unwrap().status().as_u16();
        if got != want {
            problems.push(format!(
                "device key, request {index}: {got}, expected {want}"
            ));
        }
    }
    // The WebSocket column: a subscribe is granted exactly where a read is.
    let broadcaster = app.broadcaster(|_| {}).await;
    let not_found = |tn: &str| format!("package {tn} not found");
    for (index, caller) in roles.iter().enumerate() {
        let token = app.env.token(caller);
        let expected = match index {
            0 | 1 => [
                "subscribed".to_owned(),
                "subscribed".into(),
                "subscribed".into(),
            ],
            2 => [not_found(&others), not_found(&own), "subscribed".into()],
            _ => [not_found(&others), "subscribed".into(), not_found(&carried)],
        };
        for (tn, want) in [&others, &own, &carried].into_iter().zip(expected) {
            let got = subscribe_answer(&broadcaster.base_url, &token, tn).await;
            if got != want {
                problems.push(format!(
                    "WebSocket subscribe {tn} as {}: {got}, expected {want}",
                    caller.role
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
    let listed = |client: &Client| {
        let request = client.get(app.url("/packages?limit=1000")).send();
        async move {
            let packages = json_of(request.await.unwrap()).await;
            let numbers: Vec<String> = packages
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["tracking_number"].as_str().unwrap().to_owned())
                .collect();
            numbers
        }
    };
    let customers = listed(&clients[3]).await;
    assert!(
        customers.contains(&own) && !customers.contains(&others) && !customers.contains(&carried)
    );
    assert!(
        customers.len() >= 2,
        "their own packages, the one created in the table too"
    );
    let mut couriers = listed(&clients[2]).await;
    couriers.sort();
    let mut runs = vec![carried.clone(), spare.clone()];
    runs.sort();
    assert_eq!(couriers, runs, "the courier lists the packages of its runs");
    let everything = listed(&clients[0]).await;
    assert!(
        everything.contains(&others) && everything.contains(&own) && everything.contains(&carried)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_package_someone_may_not_see_answers_exactly_like_one_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let hidden = tracking_number();
    app.created(&hidden).await;
    let unknown = tracking_number();
    let customer = app.client_as(&app.caller(Role::Customer).await);
    for suffix in ["", "/events", "/locations"] {
        let hidden_answer = customer
            .get(app.url(&format!("/packages/{hidden}{suffix}")))
            .send()
            .await
            .unwrap();
        let unknown_answer = customer
            .get(app.url(&format!("/packages/{unknown}{suffix}")))
            .send()
            .await
            .unwrap();
        let hidden_message = expect_error(hidden_answer, 404).await;
        let unknown_message = expect_error(unknown_answer, 404).await;
        assert_eq!(
            hidden_message.replace(&hidden, "TN"),
            unknown_message.replace(&unknown, "TN"),
            "{suffix}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_recipient_named_by_email_follows_the_package() {
    let app = TestApp::spawn().await;
    // Accounts whose emails are verified (testkit's accounts are).
    let sender = app.caller(Role::Customer).await;
    let recipient = app.caller(Role::Customer).await;
    let stranger = app.caller(Role::Customer).await;
    let mut body = customer_package_body();
    body["recipient_email"] = json!(recipient.email.as_ref().unwrap().as_str().to_uppercase());
    let package = create_as(&app, &app.client_as(&sender), body).await;
    let tn = package["tracking_number"].as_str().unwrap().to_owned();
    assert_eq!(
        package["recipient_email"],
        recipient.email.as_ref().unwrap().as_str()
    );
    let read = |who: &Caller| {
        app.client_as(who)
            .get(app.url(&format!("/packages/{tn}")))
            .send()
    };
    assert_eq!(read(&recipient).await.unwrap().status(), 200);
    assert_eq!(read(&sender).await.unwrap().status(), 200);
    assert_eq!(read(&stranger).await.unwrap().status(), 404);
    let bad = app
        .client_as(&sender)
        .post(app.url("/packages"))
        .json(&{
            let mut body = customer_package_body();
            body["recipient_email"] = json!("not an email");
            body
        })
        .send()
        .await
        .unwrap();
    assert!(expect_error(bad, 422).await.contains("recipient_email"));
    app.shutdown().await;
}

#[tokio::test]
async fn sql_shaped_input_is_stored_and_returned_verbatim() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    let hostile = "Robert'); DROP TABLE packages; -- \\ \" ' ; SELECT * FROM users";
    let mut body = package_body(&tn);
    body["sender_name"] = json!(hostile);
    body["description"] = json!("1' OR '1'='1");
    let created = create_as(&app, &app.http, body).await;
    assert_eq!(created["sender_name"], hostile);
    let read = json_of(app.get(&format!("/packages/{tn}")).await).await;
    assert_eq!(read["sender_name"], hostile);
    assert_eq!(read["description"], "1' OR '1'='1");
    let name = "O'Brien\"; DELETE FROM users; --";
    let email = format!("o'brien.{}@example.com", &tn[3..]);
    let registered = Client::new()
        .post(app.url("/auth/register"))
        .json(&json!({"email": email, "password": "a long enough password", "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let stored: String = testkit::eventually(testkit::app::WAIT, "the account", || async {
        sqlx::query_scalar("SELECT name FROM users WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_optional(&app.env.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(stored, name);
    let login = Client::new()
        .post(app.url("/auth/login"))
        .json(&json!({"email": "' OR 1=1 --", "password": "' OR 1=1 --"}))
        .send()
        .await
        .unwrap();
    expect_error(login, 401).await;
    assert_eq!(
        app.package_rows().await,
        1,
        "the table is still there, with its one row"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn cors_preflights_and_security_headers() {
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.cors_allowed_origins = vec!["https://dashboard.example".into()];
    }))
    .await;
    let preflight = |origin: &'static str| {
        Client::new()
            .request(Method::OPTIONS, app.url("/packages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://dashboard.example").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dashboard.example"
    );
    let methods = headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        methods.contains("post") && methods.contains("put"),
        "{methods}"
    );
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed_headers.contains("authorization") && allowed_headers.contains("idempotency-key")
    );

    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let read = app
        .http
        .get(app.url("/stats"))
        .header("origin", "https://dashboard.example")
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    let headers = read.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dashboard.example"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["x-request-id"], "req-123",
        "the client's request id comes back"
    );
    let health = Client::new().get(app.url("/health")).send().await.unwrap();
    assert!(
        !health.headers()["x-request-id"].is_empty(),
        "a new id when none was sent"
    );
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    app.shutdown().await;
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_caller_who_sent_them() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let put = |who: &Caller| {
        app.client_as(who)
            .put(app.url(&format!("/packages/{tn}/status")))
            .header("idempotency-key", "shared-key-1")
            .json(&json!({"status": "in_transit"}))
            .send()
    };
    let (first, second) = (
        app.caller(Role::Dispatcher).await,
        app.caller(Role::Dispatcher).await,
    );
    assert_eq!(put(&first).await.unwrap().status(), 200);
    assert_eq!(
        put(&first).await.unwrap().status(),
        200,
        "a retry is replayed"
    );
    assert_eq!(put(&second).await.unwrap().status(), 200);
    let events = json_of(app.get(&format!("/packages/{tn}/events")).await).await;
    let actors: Vec<&str> = events.as_array().unwrap()[1..]
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [first.user_id.to_string(), second.user_id.to_string()],
        "the second caller's key is theirs, not a replay of the first's"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn workers_refuse_a_command_whose_principal_may_not_do_it() {
    let app = TestApp::spawn().await;
    let tn = tracking_number();
    app.created(&tn).await;
    let number = shared::domain::TrackingNumber::parse(&tn).unwrap();
    let change = |status, principal| {
        shared::wire::Envelope::new(
            uuid::Uuid::now_v7(),
            chrono::Utc::now(),
            principal,
            shared::wire::Command::UpdateStatus(shared::wire::UpdateStatus {
                tracking_number: number.clone(),
                status,
                location: None,
                coordinates: None,
            }),
        )
    };
    use shared::domain::PackageStatus;
    // Straight onto the broker, past ingest: a customer's and an anonymous
    // cancel, then a dispatcher's move, all on the package's shard in order.
    app.env
        .publish_command(&change(
            PackageStatus::Cancelled,
            caller(Role::Customer).principal(),
        ))
        .await;
    app.env
        .publish_command(&change(
            PackageStatus::Cancelled,
            shared::wire::Principal::default(),
        ))
        .await;
    app.env
        .publish_command(&change(PackageStatus::InTransit, testkit::dispatcher()))
        .await;
    let status = testkit::eventually(testkit::app::WAIT, "the dispatcher's change", || async {
        let package = json_of(app.get(&format!("/packages/{tn}")).await).await;
        (package["status"] != "pending").then_some(package["status"].clone())
    })
    .await;
    assert_eq!(status, "in_transit", "the forged cancels were not applied");
    app.shutdown().await;
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_once_and_can_create_accounts() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let admin = workers::config::BootstrapAdmin {
        email: shared::domain::Email::parse("first.admin@example.com").unwrap(),
        password: "first admin password".into(),
    };
    workers::bootstrap::ensure_admin(&app.env.pool, &admin)
        .await
        .unwrap();
    // Again: an account with the email exists, nothing changes.
    workers::bootstrap::ensure_admin(&app.env.pool, &admin)
        .await
        .unwrap();
    let mut app = app;
    app.start_workers();
    let login = Client::new()
        .post(app.url("/auth/login"))
        .json(&json!({"email": "first.admin@example.com", "password": "first admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = json_of(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = testkit::app::client_with_token(&token)
        .post(app.url("/users"))
        .json(&json!({"email": "dispatch@example.com", "password": "dispatcher password", "name": "D", "role": "dispatcher"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(json_of(created).await["role"], "dispatcher");
    let admins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE role = 'admin' AND email = 'first.admin@example.com'",
    )
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(admins, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn websocket_watchers_need_a_token_and_see_only_what_the_policy_allows() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let customer = app.caller(Role::Customer).await;
    let own = create_as_customer(&app, &app.client_as(&customer), customer_package_body()).await;
    let others = tracking_number();
    app.created(&others).await;

    let refused = tokio_tungstenite::connect_async(&broadcaster.base_url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("an upgrade without a token must be refused with 401: {other:?}"),
    }
    let expired = app
        .env
        .tokens()
        .issue_at(&customer, now() - 7200, Duration::from_secs(3600))
        .unwrap()
        .token;
    let refused = tokio_tungstenite::connect_async(
        ws::Endpoint::new(&broadcaster.base_url, &expired).request(),
    )
    .await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );

    // A token in the Authorization header, as non-browser clients send it.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            broadcaster.base_url.as_str(),
        )
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.env.token(&customer))
            .parse()
            .unwrap(),
    );
    let (mut client, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": others}),
    )
    .await;
    let hidden = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    let nowhere = tracking_number();
    send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": nowhere}),
    )
    .await;
    let unknown = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hidden["type"], "error");
    assert_eq!(hidden["error"], format!("package {others} not found"));
    assert_eq!(
        unknown["error"],
        format!("package {nowhere} not found"),
        "the same words"
    );
    subscribe(&mut client, &own).await;
    app.status_changed(&own, json!({"status": "in_transit"}))
        .await;
    let update = next_json(&mut client, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(update["tracking_number"], own.as_str());
    assert_eq!(update["data"]["status"], "in_transit");

    // A token about to expire: the connection closes with 1008 when it does.
    let short = app
        .env
        .tokens()
        .issue_at(&customer, now(), Duration::from_secs(2))
        .unwrap()
        .token;
    let (mut expiring, _) = tokio_tungstenite::connect_async(
        ws::Endpoint::new(&broadcaster.base_url, &short).request(),
    )
    .await
    .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), close_frame(&mut expiring))
        .await
        .expect("closed when the token expires")
        .expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(frame.reason.contains("expired"), "{}", frame.reason);
    app.shutdown().await;
}

#[tokio::test]
async fn workers_refuse_points_whose_poster_may_not_post_them() {
    let app = TestApp::spawn().await;
    let (carried, elsewhere) = (tracking_number(), tracking_number());
    app.created(&carried).await;
    app.created(&elsewhere).await;
    let courier = app.courier().await;
    app.deliver(&courier, &[&carried]).await;
    // One message, straight onto the broker: a customer's point, a courier's
    // for a package they do not carry, and the courier's own.
    let mut customers = testkit::location_point(&elsewhere);
    customers.source = Some(0);
    let mut strayed = testkit::location_point(&elsewhere);
    strayed.source = Some(1);
    let mut own = testkit::location_point(&carried);
    own.source = Some(1);
    let batch = shared::wire::LocationBatch {
        points: vec![customers.clone(), strayed.clone(), own.clone()],
        sources: vec![caller(Role::Customer).principal(), courier.principal()],
    };
    let envelope = shared::wire::Envelope::new(
        uuid::Uuid::now_v7(),
        chrono::Utc::now(),
        shared::wire::Principal::default(),
        batch,
    );
    app.env.publish_locations(&envelope).await;
    let letters = testkit::eventually(
        testkit::app::WAIT,
        "the refused points dead-lettered",
        || async {
            let letters = workers::dlq::list(&app.env.config.amqp_url, app.env.topology(), 10)
                .await
                .ok()?;
            (!letters.is_empty()).then_some(letters)
        },
    )
    .await;
    assert!(
        letters[0].reason.contains("forbidden"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[0].reason.contains(&elsewhere),
        "{}",
        letters[0].reason
    );
    let shared_app = &app;
    let history = |tn: String| async move {
        let points: Value = shared_app
            .get(&format!("/packages/{tn}/locations"))
            .await
            .json()
            .await
            .unwrap();
        points.as_array().unwrap().len()
    };
    testkit::eventually(
        testkit::app::WAIT,
        "the courier's own point stored",
        || async { (history(carried.clone()).await == 1).then_some(()) },
    )
    .await;
    assert_eq!(
        history(elsewhere.clone()).await,
        0,
        "nothing refused was stored"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn with_authentication_disabled_every_request_is_a_development_admin() {
    let app = TestApp::spawn_with(Options::default().ingest(|c| {
        c.auth = shared::auth::AuthConfig::Disabled;
    }))
    .await;
    let anonymous = Client::new();
    let tn = tracking_number();
    let created = anonymous
        .post(app.url("/packages"))
        .json(&package_body(&tn))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        anonymous
            .get(app.url("/stats"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let login = anonymous
        .post(app.url("/auth/login"))
        .json(&json!({"email": "a@example.com", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert!(expect_error(login, 409).await.contains("disabled"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_sign_up_never_answers_with_someone_elses_account() {
    let app = TestApp::spawn().await;
    let sign_up = |email: &str| {
        Client::new()
            .post(app.url("/auth/register"))
            .header("idempotency-key", "the-same-key")
            .json(&json!({"email": email, "password": "long enough password", "name": "N"}))
            .send()
    };
    assert_eq!(sign_up("first@example.com").await.unwrap().status(), 202);
    let second = sign_up("second@example.com").await.unwrap();
    assert_eq!(second.status(), 202, "an anonymous key scopes nothing");
    // Both accounts are made: the second is not taken for a retry of the first.
    let accounts: i64 = testkit::eventually(testkit::app::WAIT, "both accounts", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE email IN ('first@example.com', 'second@example.com')",
        )
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
        (n == 2).then_some(n)
    })
    .await;
    assert_eq!(accounts, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_courier_taken_off_a_run_stops_receiving_its_packages_updates() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (carl, dana) = (app.courier().await, app.courier().await);
    let tn = tracking_number();
    app.created(&tn).await;
    let run = app.deliver(&carl, &[&tn]).await;
    let run_id = run["id"].as_str().expect("the run's id").to_owned();
    let watch_as =
        |caller: &Caller| ws::Endpoint::new(&broadcaster.base_url, &app.env.token(caller));
    let mut carls = testkit::ws::connect(&watch_as(&carl)).await;
    subscribe(&mut carls, &tn).await;
    let mut admins = testkit::ws::connect(&broadcaster.url).await;
    subscribe(&mut admins, &tn).await;

    let reassigned = app
        .client_as(&app.admin)
        .patch(app.url(&format!("/deliveries/{run_id}")))
        .json(&json!({"courier_id": dana.user_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(reassigned.status(), 200);
    let told = next_json(&mut carls, Duration::from_secs(10))
        .await
        .expect("the courier is told");
    assert_eq!(
        told,
        json!({"type": "unsubscribed", "tracking_number": tn, "reason": "access revoked"})
    );

    // The package moves on: whoever may still watch it hears so, Carl not.
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await;
    let heard = next_json(&mut admins, Duration::from_secs(10))
        .await
        .expect("the admin hears the change");
    assert_eq!(heard["data"]["status"], "in_transit", "{heard}");
    let carl_heard = next_json(&mut carls, Duration::from_millis(500)).await;
    assert_eq!(carl_heard, None, "Carl hears nothing more: {carl_heard:?}");
    app.shutdown().await;
}
