//! Authentication and authorization as users meet them: sign-up and sign-in,
//! tokens that must be refused, no existence leaks, CORS and security
//! headers. The role × endpoint table is `role_table.rs`, the workers'
//! second check `worker_policy.rs`, the broadcaster's `websocket_auth.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use shared::auth::token::now;
use shared::auth::{Caller, Role};
use std::time::Duration;
use testkit::app::{
    customer_package_body, expect_error, package_body, tracking_number, Options, TestApp,
};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
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

    let package = app.create_as(&client, customer_package_body()).await;
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
    let package = app.create_as(&app.client_as(&sender), body).await;
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
    let created = app.create_as(&app.http, body).await;
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
