//! Sessions that end when they must: short access tokens renewed by
//! refresh tokens that work once (a copied one ends the whole session),
//! sign-out, and an admin's role change or disable taking effect on every
//! ingest and broadcaster within seconds; WebSocket tickets instead of
//! tokens in URLs.

use serde_json::{json, Value};
use shared::auth::Role;
use std::time::Duration;
use testkit::app::{expect_error, TestApp, WAIT};
use testkit::ws::{self, close_frame, next_json, send};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_websocket_ticket_opens_one_connection_and_a_token_in_the_url_opens_none() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let dispatcher = app.caller(Role::Dispatcher).await;
    let client = app.client_as(&dispatcher);
    let issued = client.post(app.url("/ws-ticket")).send().await.unwrap();
    assert_eq!(issued.status(), 200);
    let issued = json_of(issued).await;
    assert_eq!(issued["expires_in"], 30);
    let ticket = issued["ticket"].as_str().unwrap().to_owned();
    let url = format!("{}?ticket={ticket}", broadcaster.base_url);
    let mut socket = ws::connect(&url).await;
    send(&mut socket, json!({"type": "subscribe_all"})).await;
    let mut answer = next_json(&mut socket, WAIT).await.expect("an answer");
    while answer["type"] == "resync" {
        answer = next_json(&mut socket, WAIT).await.expect("an answer");
    }
    assert_eq!(answer["type"], "subscribed_all", "{answer}");
    // Used once: the same ticket opens a socket that closes at once.
    let mut again = ws::connect(&url).await;
    let frame = close_frame(&mut again).await.expect("a close frame");
    assert_eq!(frame.reason.as_str(), "ticket unknown, used or expired");
    // Whoever can write to Redis cannot make a ticket: what is stored is
    // sealed with the deployment's key.
    let forged = format!("dwt_{}", "ab".repeat(24));
    let stored = json!({
        "user_id": dispatcher.user_id,
        "session_id": dispatcher.session_id,
        "expires_at": shared::auth::token::now() + 600
    });
    let mut redis = app.env.redis().await;
    let _: () = redis::cmd("SET")
        .arg(format!(
            "{}wsticket:{}",
            app.env.config.redis_prefix,
            shared::auth::api_key::hash(&forged)
        ))
        .arg(format!("{}.{stored}", "00".repeat(32)))
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut forged_socket = ws::connect(&format!("{}?ticket={forged}", broadcaster.base_url)).await;
    let frame = close_frame(&mut forged_socket)
        .await
        .expect("a close frame");
    assert_eq!(frame.reason.as_str(), "ticket unknown, used or expired");
    // A token in the URL (where proxies log it) is no credential.
    let token = app.env.token(&dispatcher);
    let refused =
        tokio_tungstenite::connect_async(format!("{}?token={token}", broadcaster.base_url)).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    app.shutdown().await;
}

/// An account an admin created through the API, and its password.
async fn account(app: &TestApp, role: &str) -> (String, uuid::Uuid) {
    let email = format!("{role}-{}@example.test", uuid::Uuid::new_v4().simple());
    let created = app
        .post_json(
            "/users",
            &json!({"email": email, "password": PASSWORD, "name": "Someone", "role": role}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = json_of(created).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (email, id)
}

const PASSWORD: &str = "a password long enough";

/// Signs in; the answer's access and refresh tokens.
async fn sign_in(base: &str, email: &str) -> (String, String) {
    let answer = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let tokens = json_of(answer).await;
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

/// Waits (up to 5 s: the promise) until `path` answers `status` to `token`.
async fn within_5s(base: &str, token: &str, path: &str, status: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = testkit::app::status_as(base, token, path).await;
        if got == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} still answers {got} after 5 s, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_refresh_token_works_once_and_a_copy_used_later_ends_the_whole_session() {
    let app = TestApp::spawn().await;
    let (email, _) = account(&app, "dispatcher").await;
    let (access, first) = sign_in(&app.base, &email).await;
    assert_eq!(
        testkit::app::status_as(&app.base, &access, "/stats").await,
        200
    );

    let renewed = refresh(&app, &first).await;
    assert_eq!(renewed.status(), 200);
    let renewed = json_of(renewed).await;
    let (access2, second) = (
        renewed["access_token"].as_str().unwrap().to_owned(),
        renewed["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(second, first, "rotated on every use");
    assert_eq!(
        testkit::app::status_as(&app.base, &access2, "/stats").await,
        200
    );

    // The first one presented again at once, twice over, is the client
    // retrying a refresh whose answer it lost (or two tabs): the same
    // pair for each, and nothing ends.
    let (one, two) = tokio::join!(refresh(&app, &first), refresh(&app, &first));
    for retried in [one, two] {
        assert_eq!(retried.status(), 200);
        let retried = json_of(retried).await;
        assert_eq!(
            retried["refresh_token"],
            second.as_str(),
            "the same successor"
        );
    }
    assert_eq!(
        testkit::app::status_as(&app.base, &access2, "/stats").await,
        200
    );
    // Once the successor was used in turn, the old one gets nothing (and
    // ends nothing: it may be a slow retry).
    let renewed = refresh(&app, &second).await;
    assert_eq!(renewed.status(), 200);
    let renewed = json_of(renewed).await;
    let (access3, third) = (
        renewed["access_token"].as_str().unwrap().to_owned(),
        renewed["refresh_token"].as_str().unwrap().to_owned(),
    );
    expect_error(refresh(&app, &first).await, 401).await;
    assert_eq!(
        testkit::app::status_as(&app.base, &access3, "/stats").await,
        200
    );
    // Later than the grace (the store is moved back past it), a spent token
    // is a copy, stolen or replayed: refused, and the session it belongs
    // to ends for everyone holding its tokens.
    sqlx::query("UPDATE spent_refresh_tokens SET spent_at = spent_at - interval '1 minute'")
        .execute(&app.env.pool)
        .await
        .unwrap();
    let message = expect_error(refresh(&app, &first).await, 401).await;
    assert!(message.contains("already used"), "{message}");
    expect_error(refresh(&app, &third).await, 401).await;
    within_5s(&app.base, &access3, "/stats", 401).await;
    // Garbage and a well-formed stranger are refused, and end nothing.
    expect_error(refresh(&app, "dtr_nonsense").await, 401).await;
    let (_, other) = sign_in(&app.base, &email).await;
    let forged = format!("{}{}", &other[..other.len() - 4], "0000");
    expect_error(refresh(&app, &forged).await, 401).await;
    assert_eq!(
        refresh(&app, &other).await.status(),
        200,
        "another session lives on"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_on_every_ingest_and_broadcaster_within_seconds() {
    let mut app = TestApp::spawn().await;
    let other_ingest = app.another_ingest(|_| {}).await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (email, _) = account(&app, "dispatcher").await;
    let (access, refresh_token) = sign_in(&app.base, &email).await;
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    // Both instances have seen (and remember) the token.
    assert_eq!(
        testkit::app::status_as(&app.base, &access, "/stats").await,
        200
    );
    assert_eq!(
        testkit::app::status_as(&other_ingest, &access, "/stats").await,
        200
    );
    let mut socket = ws::connect(&ws::Endpoint::new(&broadcaster.base_url, &access)).await;
    ws::subscribe(&mut socket, &tn).await;

    let out = testkit::app::client_with_token(&access)
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    within_5s(&app.base, &access, "/stats", 401).await;
    within_5s(&other_ingest, &access, "/stats", 401).await;
    expect_error(refresh(&app, &refresh_token).await, 401).await;
    let told = tokio::time::timeout(Duration::from_secs(5), next_json(&mut socket, WAIT))
        .await
        .expect("told within 5 s")
        .expect("a message");
    assert_eq!(
        told,
        json!({"type": "unsubscribed", "tracking_number": tn, "reason": "access revoked"})
    );
    let frame = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(frame.reason.as_str(), "session ended");
    app.shutdown().await;
}

#[tokio::test]
async fn an_admins_role_change_or_disable_takes_effect_everywhere_within_seconds() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let (email, dispatcher_id) = account(&app, "dispatcher").await;
    let (access, _) = sign_in(&app.base, &email).await;
    let mut feed = ws::connect(&ws::Endpoint::new(&broadcaster.base_url, &access)).await;
    send(&mut feed, json!({"type": "subscribe_all"})).await;
    let mut answer = next_json(&mut feed, WAIT).await.expect("an answer");
    while answer["type"] == "resync" {
        answer = next_json(&mut feed, WAIT).await.expect("an answer");
    }
    assert_eq!(answer["type"], "subscribed_all");
    assert_eq!(
        testkit::app::status_as(&app.base, &access, "/stats").await,
        200
    );

    // Listing accounts is an admin's: the dispatcher may not.
    assert_eq!(
        testkit::app::status_as(&app.base, &access, "/users").await,
        403
    );
    let listed = json_of(app.get("/users?role=dispatcher").await).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == dispatcher_id.to_string() && u["disabled"] == false));

    let demoted = app
        .http
        .patch(app.url(&format!("/users/{dispatcher_id}")))
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);
    assert_eq!(json_of(demoted).await["role"], "customer");
    let told = tokio::time::timeout(Duration::from_secs(5), next_json(&mut feed, WAIT))
        .await
        .expect("within 5 s")
        .expect("a message");
    assert_eq!(
        told,
        json!({"type": "unsubscribed_all", "reason": "access revoked"})
    );
    within_5s(&app.base, &access, "/stats", 403).await;
    disabling_takes_effect(&app).await;
    // An admin cannot lock themselves out.
    let own = app
        .http
        .patch(app.url(&format!("/users/{}", app.admin.user_id)))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    expect_error(own, 409).await;
    app.shutdown().await;
}

/// Disabled: no sign-in, no session, no device.
async fn disabling_takes_effect(app: &TestApp) {
    let (courier_email, courier_id) = account(app, "courier").await;
    let (courier_access, _) = sign_in(&app.base, &courier_email).await;
    let device = json_of(
        app.post_json(
            "/devices",
            &json!({"name": "van", "courier_id": courier_id}),
        )
        .await,
    )
    .await;
    let key = device["api_key"].as_str().unwrap().to_owned();
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    app.deliver(
        &shared::auth::Caller {
            user_id: courier_id,
            ..testkit::caller(Role::Courier)
        },
        &[&tn],
    )
    .await;
    let post = |key: String, tn: String| async move { app.post_point_as_device(&key, &tn).await };
    testkit::eventually(WAIT, "the device posting for its courier's run", || {
        let post = post(key.clone(), tn.clone());
        async move { (post.await == 202).then_some(()) }
    })
    .await;
    let disabled = app
        .http
        .patch(app.url(&format!("/users/{courier_id}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(json_of(disabled).await["disabled"], true);
    within_5s(&app.base, &courier_access, "/me/deliveries", 401).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while post(key.clone(), tn.clone()).await != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the device still posts"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = reqwest::Client::new()
        .post(app.url("/auth/login"))
        .json(&json!({"email": courier_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(expect_error(login, 401).await.contains("disabled"));
}

/// The log of changed accounts every ingest and broadcaster follows, on
/// the real Redis: a reader learns exactly which accounts changed, and
/// when the log is lost (Redis flushed or failed over), that everything
/// may have: a revocation must not be missed because Redis forgot it.
#[tokio::test]
async fn the_account_change_log_says_everything_may_have_changed_when_redis_lost_it() {
    use shared::auth::changes::{self, Changed, Follower};
    let env = testkit::TestEnv::new().await;
    let cache = shared::cache::ViewCache::new(&env.config.redis_target(), &env.config.redis_prefix)
        .unwrap();
    let mut follower = Follower::default();
    assert_eq!(
        follower.poll(&cache).await,
        Some(Changed::Everything),
        "first poll"
    );
    assert_eq!(follower.poll(&cache).await, None);
    let (one, two) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    changes::record(&cache, &[one]).await.unwrap();
    changes::record(&cache, &[two]).await.unwrap();
    assert_eq!(
        follower.poll(&cache).await,
        Some(Changed::Accounts([one, two].into_iter().collect()))
    );
    assert_eq!(follower.poll(&cache).await, None);
    // Redis loses the log, then records as many changes as before: the
    // version is back where the reader saw it, but the log is another.
    let mut redis = env.redis().await;
    let _: () = redis::cmd("DEL")
        .arg(cache.tagged_key("accounts", "version"))
        .arg(cache.tagged_key("accounts", "changes"))
        .arg(cache.tagged_key("accounts", "epoch"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let lost = uuid::Uuid::new_v4();
    changes::record(&cache, &[lost]).await.unwrap();
    changes::record(&cache, &[lost]).await.unwrap();
    assert_eq!(follower.poll(&cache).await, Some(Changed::Everything));
    assert_eq!(follower.poll(&cache).await, None);
    // The version going back (a restore from an older snapshot) likewise.
    let _: () = redis::cmd("SET")
        .arg(cache.tagged_key("accounts", "version"))
        .arg(1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(follower.poll(&cache).await, Some(Changed::Everything));
    drop(env);
}

/// Ended sessions (and their spent refresh tokens) and used links are
/// forgotten once they protect nothing; live sessions keep their spent
/// tokens, which is how a copied refresh token is recognised.
#[tokio::test]
async fn pruning_forgets_long_ended_sessions_and_old_links_but_not_what_still_protects() {
    // No workers: their own hourly pass must not run meanwhile.
    let env = testkit::TestEnv::new().await;
    let pool = &env.pool;
    let account = env.account(Role::Customer).await;
    let session = |ended: &'static str, expires: &'static str| {
        let id = uuid::Uuid::new_v4();
        let user = account.user_id;
        async move {
            sqlx::query(&format!(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, now() - interval '40 days', now(), now() + interval '{expires}', {ended})"
            ))
            .bind(id)
            .bind(user)
            .bind(shared::auth::api_key::random_hex(32))
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO spent_refresh_tokens (hash, session_id, event_id, spent_at) \
                 VALUES ($1, $2, $3, now() - interval '20 days')",
            )
            .bind(shared::auth::api_key::random_hex(32))
            .bind(id)
            .bind(uuid::Uuid::new_v4())
            .execute(pool)
            .await
            .unwrap();
            id
        }
    };
    let signed_out_long_ago = session("now() - interval '8 days'", "1 day").await;
    let expired_long_ago = session("NULL", "-8 days").await;
    let signed_out_yesterday = session("now() - interval '1 day'", "1 day").await;
    let live = session("NULL", "20 days").await;
    for (nonce, age) in [("old", "3 days"), ("recent", "1 hour")] {
        sqlx::query(&format!(
            "INSERT INTO used_links (nonce, event_id, used_at) VALUES ($1, $2, now() - interval '{age}')"
        ))
        .bind(format!("{nonce}-{}", account.user_id))
        .bind(uuid::Uuid::new_v4())
        .execute(pool)
        .await
        .unwrap();
    }

    let pruned = workers::accounts::prune::prune(pool, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned.sessions, 2, "{pruned:?}");
    assert_eq!(pruned.used_links, 1, "{pruned:?}");
    let sessions: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 ORDER BY id")
            .bind(account.user_id)
            .fetch_all(pool)
            .await
            .unwrap();
    for gone in [signed_out_long_ago, expired_long_ago] {
        assert!(!sessions.contains(&gone));
    }
    for kept in [signed_out_yesterday, live] {
        assert!(sessions.contains(&kept));
        let spent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM spent_refresh_tokens WHERE session_id = $1")
                .bind(kept)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(spent, 1, "a kept session keeps its spent tokens");
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM spent_refresh_tokens t LEFT JOIN sessions s ON s.id = t.session_id WHERE s.id IS NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    let links: Vec<String> = sqlx::query_scalar("SELECT nonce FROM used_links")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(links, [format!("recent-{}", account.user_id)]);
    drop(env);
}
