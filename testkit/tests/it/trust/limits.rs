//! Limits that a stranger cannot sidestep: an IPv6 client's whole /64 is
//! one address, a client's own X-Forwarded-For line is never believed
//! (only the hops trusted proxies appended), one account slows down after
//! failed sign-ins whatever the address, and public lookups of tracking
//! numbers share one limit per network over ingest and the broadcaster.

use ingest::rate_limit::Limits;
use serde_json::json;
use shared::auth::Role;
use testkit::app::{expect_error, Options, TestApp, WAIT};
use testkit::ws::{self, next_json, send};

fn only(auth: u32, track: u32) -> Limits {
    Limits {
        auth,
        track,
        ..Limits::OFF
    }
}

/// Behind a proxy on this machine, which the system trusts.
fn behind_proxy(limits: Limits) -> Options {
    Options::default().ingest(move |c| {
        c.rate_limits = limits;
        c.proxies = shared::net::TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
}

/// A sign-in attempt for a fresh account, with these X-Forwarded-For lines.
async fn attempt(app: &TestApp, forwarded: &[&str]) -> u16 {
    let email = format!("guess-{}@example.test", uuid::Uuid::new_v4().simple());
    let mut request = reqwest::Client::new()
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": "a guess at it"}));
    for line in forwarded {
        request = request.header("x-forwarded-for", *line);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_ipv6_client_rotating_through_its_64_is_one_address() {
    testkit::in_one_minute_window().await;
    let app = TestApp::spawn_with(behind_proxy(only(5, 0))).await;
    let mut statuses = Vec::new();
    for n in 1..=7 {
        statuses.push(attempt(&app, &[&format!("2001:db8:1:2::{n:x}")]).await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429],
        "one /64, one limit"
    );
    assert_eq!(
        attempt(&app, &["2001:db8:1:3::1"]).await,
        401,
        "the next /64 is someone else"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_forwarded_line_the_client_wrote_is_not_believed() {
    testkit::in_one_minute_window().await;
    let app = TestApp::spawn_with(behind_proxy(only(3, 0))).await;
    let mut statuses = Vec::new();
    for n in 1..=5 {
        // The client writes a new address each time; the proxy appends the
        // one it saw on a line of its own.
        let own = format!("198.51.100.{n}");
        statuses.push(attempt(&app, &[&own, "203.0.113.9"]).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // And a client that reaches ingest directly is its own address, whatever
    // it writes.
    let direct =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits = only(3, 0))).await;
    let mut statuses = Vec::new();
    for n in 1..=4 {
        statuses.push(attempt(&direct, &[&format!("192.0.2.{n}")]).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    direct.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn failed_sign_ins_slow_one_account_down_whatever_the_address() {
    let app = TestApp::spawn_with(behind_proxy(Limits::OFF)).await;
    let email = format!("target-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "the account's real password";
    let created = app
        .post_json(
            "/users",
            &json!({"email": email, "password": password, "name": "T", "role": "dispatcher"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let login = |password: &'static str, from: String| {
        let email = email.clone();
        let url = app.url("/auth/login");
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    // Six guesses, each from another network.
    for n in 1..=6 {
        let answer = login("a wrong guess!", format!("192.0.2.{n}")).await;
        assert_eq!(answer.status(), 401, "attempt {n}");
    }
    // Now the account waits, even for its owner's right password.
    let slowed = login(password, "198.51.100.1".into()).await;
    let retry: u64 = slowed.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expect_error(slowed, 429).await.contains("this account"));
    assert!((1..=2).contains(&retry), "{retry}");
    // Other accounts are not slowed by it.
    let other = app.caller(Role::Dispatcher).await;
    assert_eq!(
        app.client_as(&other)
            .get(app.url("/stats"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_secs(retry + 1)).await;
    assert_eq!(login(password, "198.51.100.1".into()).await.status(), 200);
    // A success forgets the failures.
    assert_eq!(
        login("a wrong guess!", "192.0.2.99".into()).await.status(),
        401
    );
    assert_eq!(login(password, "192.0.2.99".into()).await.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn guesses_sent_at_once_in_any_spelling_of_the_email_share_the_accounts_budget() {
    let app = TestApp::spawn_with(behind_proxy(Limits::OFF)).await;
    let email = format!("burst-{}@example.test", uuid::Uuid::new_v4().simple());
    let created = app
        .post_json(
            "/users",
            &json!({"email": email, "password": "the real password", "name": "B", "role": "dispatcher"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    // Thirty guesses at once, from thirty networks, the email spelled
    // three ways (case, surrounding spaces): one account, one budget.
    let spellings = [email.clone(), email.to_uppercase(), format!("  {email} ")];
    let guesses = (0..30).map(|n| {
        let spelled = spellings[n % 3].clone();
        let url = app.url("/auth/login");
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{n}"))
                .json(&json!({"email": spelled, "password": "a wrong guess!"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 30, "{statuses:?}");
    assert!(
        checked <= shared::auth::sign_in_delay::FREE_ATTEMPTS as usize + 1,
        "{checked} guesses were checked: {statuses:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn public_lookups_share_one_limit_per_network_over_ingest_and_the_broadcaster() {
    testkit::in_one_minute_window().await;
    let mut app =
        TestApp::spawn_with(Options::default().ingest(|c| c.rate_limits = only(0, 6))).await;
    let broadcaster = app
        .broadcaster(|c| {
            c.public_lookups_per_minute = 6;
            c.max_subscriptions = 100;
        })
        .await;
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    let track = || reqwest::get(app.url(&format!("/track/{tn}")));
    for _ in 0..3 {
        assert_eq!(track().await.unwrap().status(), 200);
    }
    let mut public = ws::connect(&broadcaster.public_url()).await;
    for n in 0..3 {
        let guess = format!("TRK0GUESS{n:04}");
        send(
            &mut public,
            json!({"type": "subscribe", "tracking_number": guess}),
        )
        .await;
        let answer = next_json(&mut public, WAIT).await.expect("an answer");
        assert_eq!(
            answer["error"],
            format!("package {guess} not found"),
            "{answer}"
        );
    }
    // Six lookups from this network, over both: the seventh is refused on
    // either.
    send(
        &mut public,
        json!({"type": "subscribe", "tracking_number": tn}),
    )
    .await;
    let refused = next_json(&mut public, WAIT).await.expect("an answer");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too many lookups"),
        "{refused}"
    );
    expect_error(track().await.unwrap(), 429).await;
    app.shutdown().await;
}

#[tokio::test]
async fn opening_public_websockets_is_rate_limited_per_network() {
    testkit::in_one_minute_window().await;
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|c| {
            c.public_opens_per_minute = 3;
            c.public_per_address = 100;
        })
        .await;
    for _ in 0..3 {
        let socket = ws::connect(&broadcaster.public_url()).await;
        drop(socket);
    }
    let refused = tokio_tungstenite::connect_async(broadcaster.public_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("a fourth open within the minute must get 429: {other:?}"),
    }
    // Signed-in connections are not public ones.
    let _signed_in = ws::connect(&broadcaster.url).await;
    app.shutdown().await;
}
