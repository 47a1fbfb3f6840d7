//! The web surface. The public tracking API (`GET /api/v1/track/{tn}`) and
//! the broadcaster's `/ws/public` mode reveal only what a tracking number
//! should (no names, addresses, accounts or devices), need no sign-in, and
//! are rate-limited; the tracking page does the same in a real browser. The
//! dispatchers' dashboard follows every package over the "every package"
//! feed, which only roles that see every package may open.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use testkit::app::{expect_error, Options, TestApp, WAIT};
use testkit::ws;

/// The fields a tracking number may reveal, and nothing else.
const PUBLIC_FIELDS: [&str; 8] = [
    "created_at",
    "eta",
    "last_position",
    "seq",
    "status",
    "timeline",
    "tracking_number",
    "updated_at",
];

#[tokio::test]
async fn anyone_with_the_number_sees_the_status_timeline_and_last_position_and_nothing_else() {
    let app = TestApp::spawn().await;
    let tn = "TRK0PUBLIC001";
    app.created(tn).await;
    let moved = app
        .put_json(
            &format!("/packages/{tn}/status"),
            &json!({"status": "in_transit", "location": "Newark Hub", "latitude": 40.7357, "longitude": -74.1724}),
        )
        .await;
    assert_eq!(moved.status(), 200);

    let anonymous = reqwest::Client::new();
    let answer = anonymous
        .get(app.url(&format!("/track/{tn}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let view: Value = answer.json().await.unwrap();
    let mut fields: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, PUBLIC_FIELDS, "{view}");
    assert_eq!(view["status"], "in_transit");
    let steps: Vec<(&str, Option<&str>)> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["status"].as_str().unwrap(), s["location"].as_str()))
        .collect();
    assert_eq!(
        steps,
        [("pending", None), ("in_transit", Some("Newark Hub"))]
    );
    assert_eq!(view["last_position"]["latitude"], 40.7357);
    assert_eq!(view["last_position"]["location"], "Newark Hub");
    let text = view.to_string();
    for secret in [
        "Ann Sender",
        "1 Main St",
        "Bob Recipient",
        "2 High St",
        "Books",
    ] {
        assert!(!text.contains(secret), "{secret} revealed: {text}");
    }
    assert!(view["seq"].as_i64() >= Some(2), "{view}");

    for unknown in ["TRK0NOBODY001", "not a number!"] {
        let answer = anonymous
            .get(app.url(&format!("/track/{unknown}")))
            .send()
            .await
            .unwrap();
        expect_error(answer, 404).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn public_lookups_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(Options::default().ingest(|config| {
        config.rate_limits.track = 5;
    }))
    .await;
    let anonymous = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let answer = anonymous
            .get(app.url(&format!("/track/TRK0GUESS{i:04}")))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            assert!(answer.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses[..5], [404; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_public_websocket_mode_needs_no_token_and_sends_a_packages_updates() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let tn = "TRK0PUBLICWS1";
    app.created(tn).await;
    let mut client = ws::connect(&format!("{}/public", broadcaster.base_url)).await;
    ws::send(
        &mut client,
        json!({"type": "subscribe", "tracking_number": "TRK0NOBODY002"}),
    )
    .await;
    let refused = ws::next_json(&mut client, WAIT).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    ws::subscribe(&mut client, tn).await;
    let changed = app
        .put_json(
            &format!("/packages/{tn}/status"),
            &json!({"status": "in_transit"}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let mut seen = Vec::new();
    while let Some(update) = ws::next_json(&mut client, Duration::from_secs(3)).await {
        seen.push(update);
        if seen.iter().any(|u| u["data"]["status"] == "in_transit") {
            break;
        }
    }
    assert!(
        seen.iter().any(|u| u["data"]["status"] == "in_transit"),
        "{seen:?}"
    );
    for update in &seen {
        assert_eq!(update["type"], "package_update");
        let data: Vec<&String> = update["data"].as_object().unwrap().keys().collect();
        assert!(
            data.iter().all(
                |k| ["status", "location", "latitude", "longitude", "timestamp"]
                    .contains(&k.as_str())
            ),
            "{update}"
        );
    }
    // Every lookup counts, found or not: one connection cannot test numbers
    // without end (this broadcaster allows 3 subscriptions per connection).
    let mut answers = Vec::new();
    for guess in ["TRK0GUESS0001", "TRK0GUESS0002"] {
        ws::send(
            &mut client,
            json!({"type": "subscribe", "tracking_number": guess}),
        )
        .await;
        answers.push(ws::next_json(&mut client, WAIT).await.expect("an answer"));
    }
    assert_eq!(answers[0]["error"], "package TRK0GUESS0001 not found");
    assert!(
        answers[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("lookups per public connection")),
        "{answers:?}"
    );
    // The authenticated endpoint still wants a token.
    let refused = tokio_tungstenite::connect_async(&broadcaster.base_url).await;
    assert!(refused.is_err(), "/ws without a token");
    app.shutdown().await;
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_public_connections() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|config| config.public_per_address = 2)
        .await;
    let public = format!("{}/public", broadcaster.base_url);
    let first = ws::connect(&public).await;
    let _second = ws::connect(&public).await;
    match tokio_tungstenite::connect_async(&public).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("too many public connections"), "{body}");
        }
        other => panic!("a third public connection must be refused with 429: {other:?}"),
    }
    // Signed-in connections are not counted against it.
    let _signed_in = ws::connect(&broadcaster.url).await;
    // A closed connection gives its place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio_tungstenite::connect_async(&public).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place comes back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown().await;
}

/// `web/dist`, built by `npm run build` in `web/` (scripts/test.sh does).
fn web_root() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web"));
    assert!(
        root.join("dist/track.html").is_file()
            && root.join("node_modules/playwright-core").is_dir(),
        "web/ is not built: run `npm ci && npm run build` in web/ (scripts/test.sh does)"
    );
    root
}

/// Runs a browser test script from `web/tests` against `app` (with a
/// broadcaster and an ingest serving the pages), with `vars`; fails the test
/// with the script's report when a step fails.
pub(crate) async fn run_in_browser(script: &str, steps: usize, vars: Vec<(&'static str, String)>) {
    let web = web_root();
    let artifacts = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/browser-artifacts"
    ));
    let script = web.join("tests").join(script);
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&script)
            .envs(vars)
            .env("ARTIFACTS_DIR", &artifacts)
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser test finishes within 2 minutes")
        .expect("the browser test's thread")
        .expect("node runs (scripts/test.sh installs Node.js and chromium)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser test failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!report.contains("FAIL"), "{report}");
    assert_eq!(
        report.matches("ok   ").count(),
        steps,
        "every step passed: {report}"
    );
}

/// An ingest serving the pages, told where the broadcaster is; its base URL.
pub(crate) async fn pages(app: &mut TestApp) -> String {
    pages_with(app, |_| {}).await
}

/// [`pages`], with the serving ingest's settings adjusted by `tweak`.
pub(crate) async fn pages_with(
    app: &mut TestApp,
    tweak: impl FnOnce(&mut ingest::IngestConfig) + Send + 'static,
) -> String {
    let broadcaster = app.broadcaster(|_| {}).await;
    let websocket_url = broadcaster.base_url.clone();
    let dist = web_root().join("dist");
    let api = app
        .another_ingest(move |config| {
            config.web = ingest::web::WebConfig {
                root: dist,
                websocket_url,
                tiles_url: String::new(),
            };
            tweak(config);
        })
        .await;
    api.trim_end_matches("/api/v1").to_owned()
}

#[tokio::test]
async fn in_a_browser_the_tracking_page_shows_a_parcel_and_follows_it_live() {
    let mut app = TestApp::spawn().await;
    let base = pages(&mut app).await;
    let tn = "TRK0BROWSER01";
    let mut body = testkit::app::package_body(tn);
    body["destination"] = json!({"latitude": 40.75, "longitude": -74.0});
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);
    let courier = app.courier().await;
    app.deliver(&courier, &[tn]).await;
    let token = app.env.token(&app.admin);
    run_in_browser(
        "track.test.mjs",
        6,
        vec![
            ("BASE_URL", base),
            ("ADMIN_TOKEN", token),
            ("TRACKING_NUMBER", tn.to_owned()),
            ("COURIER_TOKEN", app.env.token(&courier)),
        ],
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn in_a_browser_a_dispatcher_watches_packages_appear_move_and_filters_them() {
    let mut app = TestApp::spawn().await;
    // Access tokens of 20 s: the page must renew its session on its own.
    let secret = app.env.jwt_secret.clone();
    let base = pages_with(&mut app, move |config| {
        config.auth = shared::auth::AuthConfig::Enabled(std::sync::Arc::new(
            shared::auth::Tokens::hs256(secret.as_bytes(), Duration::from_secs(20)),
        ));
    })
    .await;
    let email = format!("dispatch-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "a dispatcher's password";
    let created = app
        .post_json(
            "/users",
            &json!({"email": email, "password": password, "name": "Dana Dispatch", "role": "dispatcher"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let token = app.env.token(&app.admin);
    let courier = app.courier().await;
    let courier_token = app.env.token(&courier);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..5].to_uppercase();
    run_in_browser(
        "dashboard.test.mjs",
        14,
        vec![
            ("BASE_URL", base),
            ("ADMIN_TOKEN", token),
            ("COURIER_TOKEN", courier_token),
            ("COURIER_ID", courier.user_id.to_string()),
            ("EMAIL", email),
            ("PASSWORD", password.to_owned()),
            ("RUN_ID", run_id),
        ],
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn in_a_browser_a_dispatcher_registers_a_webhook_and_reads_its_delivery_log() {
    let mut app = TestApp::spawn_with(testkit::app::Options::default().with_webhooks(|_| {})).await;
    let base = pages(&mut app).await;
    let email = format!("hooks-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "a dispatcher's password";
    let created = app
        .post_json(
            "/users",
            &json!({"email": email, "password": password, "name": "Dana Dispatch", "role": "dispatcher"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..5].to_uppercase();
    run_in_browser(
        "webhooks.test.mjs",
        5,
        vec![
            ("BASE_URL", base),
            ("ADMIN_TOKEN", app.env.token(&app.admin)),
            ("EMAIL", email),
            ("PASSWORD", password.to_owned()),
            ("RUN_ID", run_id),
        ],
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_dispatcher_can_watch_every_package_and_nobody_else_can() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let dispatcher = app.caller(shared::auth::Role::Dispatcher).await;
    let mut feed = ws::connect(&ws::Endpoint::new(
        &broadcaster.base_url,
        &app.env.token(&dispatcher),
    ))
    .await;
    ws::send(&mut feed, json!({"type": "subscribe_all"})).await;
    // A broadcaster whose own feed (re)connects tells its every-package
    // watchers to resume ("resync"); the answer follows.
    let mut answer = ws::next_json(&mut feed, WAIT).await.expect("an answer");
    while answer["type"] == "resync" {
        answer = ws::next_json(&mut feed, WAIT).await.expect("an answer");
    }
    assert_eq!(answer["type"], "subscribed_all", "{answer}");
    for tn in ["TRK0FEED00001", "TRK0FEED00002"] {
        app.created(tn).await;
    }
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < 2 {
        let Some(update) = ws::next_json(&mut feed, WAIT).await else {
            break;
        };
        if update["type"] == "package_update" {
            heard.insert(
                update["tracking_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        heard.into_iter().collect::<Vec<_>>(),
        ["TRK0FEED00001", "TRK0FEED00002"]
    );

    let customer = app.caller(shared::auth::Role::Customer).await;
    for url in [
        ws::Endpoint::new(&broadcaster.base_url, &app.env.token(&customer)),
        ws::Endpoint::from(&format!("{}/public", broadcaster.base_url)),
    ] {
        let mut client = ws::connect(&url).await;
        ws::send(&mut client, json!({"type": "subscribe_all"})).await;
        let refused = ws::next_json(&mut client, WAIT).await.expect("an answer");
        assert_eq!(refused["type"], "error", "{}: {refused}", url.url);
    }
    app.shutdown().await;
}

/// The next message of type `kind` on the feed, skipping others.
async fn next_of_type(feed: &mut ws::Client, kind: &str) -> Value {
    loop {
        let message = ws::next_json(feed, WAIT)
            .await
            .unwrap_or_else(|| panic!("a {kind} message in time"));
        if message["type"] == kind {
            return message;
        }
    }
}

/// The transaction that last changed a package (what a cursor is compared with).
async fn changed_xid(app: &TestApp, tn: &str) -> i64 {
    sqlx::query_scalar("SELECT changed_xid FROM packages WHERE tracking_number = $1")
        .bind(tn)
        .fetch_one(&app.env.pool)
        .await
        .expect("the package's row")
}

/// Waits until the package's `event_seq` reaches `seq` (the point is applied).
async fn applied(app: &TestApp, tn: &str, seq: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now: i64 =
            sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
                .bind(tn)
                .fetch_one(&app.env.pool)
                .await
                .expect("the package's row");
        if now >= seq {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tn} reached seq {seq}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a feed client holds: each package's latest state heard, and its cursor.
#[derive(Default)]
struct FeedView {
    states: std::collections::BTreeMap<String, Value>,
    cursor: i64,
}

impl FeedView {
    /// Reads the feed until a message of `kind` (`subscribed_all` or a
    /// `checkpoint` whose cursor is past `past`), keeping the states heard.
    async fn until(&mut self, feed: &mut ws::Client, kind: &str, past: i64) -> Value {
        loop {
            let message = ws::next_json(feed, WAIT)
                .await
                .unwrap_or_else(|| panic!("a {kind} in time"));
            if message["type"] == "package_states" {
                for state in message["packages"].as_array().into_iter().flatten() {
                    let tn = state["tracking_number"].as_str().unwrap_or_default();
                    self.states.insert(tn.to_owned(), state.clone());
                }
            }
            let cursor = message["cursor"].as_i64().unwrap_or_default();
            if message["type"] == kind && (kind != "checkpoint" || cursor > past) {
                self.cursor = self.cursor.max(cursor);
                return message;
            }
        }
    }
}

#[tokio::test]
async fn a_dashboard_that_reconnects_resumes_from_its_cursor_and_gets_only_what_changed() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app
        .broadcaster(|config| config.feed_checkpoint = Duration::from_millis(200))
        .await;
    let dispatcher = app.caller(shared::auth::Role::Dispatcher).await;
    let url = ws::Endpoint::new(&broadcaster.base_url, &app.env.token(&dispatcher));
    let (moving, resting) = ("TRK0RESUME001", "TRK0RESUME002");
    app.created(moving).await;
    app.created(resting).await;

    let mut feed = ws::connect(&url).await;
    let mut view = FeedView::default();
    ws::send(&mut feed, json!({"type": "subscribe_all"})).await;
    view.until(&mut feed, "subscribed_all", 0).await;
    let before = view.cursor;

    // A change whose live event never reaches the broadcaster (written
    // straight to the store, as if the event were lost in flight) still
    // reaches the feed by a checkpoint: also the broadcaster's first one,
    // which looks back to the cursor it just gave out.
    let lost_seq: i64 = sqlx::query_scalar(
        "UPDATE packages SET event_seq = event_seq + 1, current_location = 'Sorting center' \
         WHERE tracking_number = $1 RETURNING event_seq",
    )
    .bind(resting)
    .fetch_one(&app.env.pool)
    .await
    .expect("the package's row");
    let changed = changed_xid(&app, moving)
        .await
        .max(changed_xid(&app, resting).await);
    view.until(&mut feed, "checkpoint", changed).await;
    let healed = &view.states[resting];
    assert_eq!(healed["seq"], lost_seq, "{healed}");
    assert_eq!(healed["data"]["location"], "Sorting center", "{healed}");
    let cursor = view.cursor;
    drop(feed);
    moves_while_away(&app, moving).await;
    let mut feed = ws::connect(&url).await;
    let mut resumed_view = FeedView::default();
    ws::send(
        &mut feed,
        json!({"type": "subscribe_all", "since_seq": cursor}),
    )
    .await;
    let resumed = resumed_view.until(&mut feed, "subscribed_all", 0).await;
    assert_eq!(
        resumed_view.states.keys().collect::<Vec<_>>(),
        [moving],
        "only the package that changed"
    );
    let state = &resumed_view.states[moving];
    assert_eq!(state["seq"], 2);
    assert_eq!(state["data"]["status"], "pending");
    assert_eq!(state["data"]["latitude"], 51.5072);
    assert_eq!(state["data"]["longitude"], -0.1276);
    assert!(resumed_view.cursor >= cursor, "{resumed}");
    assert_eq!(resumed.get("complete"), None, "{resumed}");

    // And the feed is live again.
    app.status_changed(resting, json!({"status": "in_transit"}))
        .await;
    let update = loop {
        let update = next_of_type(&mut feed, "package_update").await;
        if update["tracking_number"] == resting {
            break update;
        }
    };
    assert_eq!(update["data"]["status"], "in_transit");

    // A resume that would send more than the broadcaster allows tells the
    // client to read its list again instead.
    let small = app.broadcaster(|config| config.feed_resume_max = 1).await;
    let mut behind = ws::connect(&ws::Endpoint::new(
        &small.base_url,
        &app.env.token(&dispatcher),
    ))
    .await;
    ws::send(
        &mut behind,
        json!({"type": "subscribe_all", "since_seq": before}),
    )
    .await;
    let told = next_of_type(&mut behind, "subscribed_all").await;
    assert_eq!(told["complete"], false, "{told}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_cursor_older_than_the_change_log_reaches_is_told_to_read_the_list_again() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let dispatcher = app.caller(shared::auth::Role::Dispatcher).await;
    let url = ws::Endpoint::new(&broadcaster.base_url, &app.env.token(&dispatcher));
    let cursor = cursor_now(&url).await;
    let tn = "TRK0LOGREACH01";
    app.created(tn).await;
    // Within the log's reach: the change, and the resume is complete.
    let (told, changed) = resume_from(&url, cursor).await;
    assert_eq!(told.get("complete"), None, "{told}");
    assert_eq!(changed, [tn]);
    // The pruner drops every entry (as it does after an hour): the resume
    // can no longer say what changed, and says so.
    let pruned = workers::packages::change_log::prune(&app.env.pool, Duration::ZERO)
        .await
        .expect("a prune");
    assert!(pruned >= 1, "the package's entry was logged");
    let (told, changed) = resume_from(&url, cursor).await;
    assert_eq!(told["complete"], false, "{told}");
    assert!(changed.is_empty(), "{changed:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_resume_reads_a_bounded_part_of_the_change_log_and_says_when_it_stopped() {
    let mut app = TestApp::spawn().await;
    // One package at most per resume: at most 8 log entries read.
    let broadcaster = app.broadcaster(|config| config.feed_resume_max = 1).await;
    let dispatcher = app.caller(shared::auth::Role::Dispatcher).await;
    let url = ws::Endpoint::new(&broadcaster.base_url, &app.env.token(&dispatcher));
    let tn = "TRK0LOGBOUND01";
    app.created(tn).await;
    let cursor = cursor_now(&url).await;
    let moved = |times: i64| {
        let pool = app.env.pool.clone();
        async move {
            for _ in 0..times {
                sqlx::query(
                    "UPDATE packages SET event_seq = event_seq + 1 WHERE tracking_number = $1",
                )
                .bind(tn)
                .execute(&pool)
                .await
                .expect("an update");
            }
        }
    };
    // Three statements changed the one package: it is sent.
    moved(3).await;
    let (told, changed) = resume_from(&url, cursor).await;
    assert_eq!(told.get("complete"), None, "{told}");
    assert_eq!(changed, [tn]);
    // Twelve: still one package, but more entries than the resume reads.
    moved(9).await;
    let (told, changed) = resume_from(&url, cursor).await;
    assert_eq!(told["complete"], false, "{told}");
    assert!(changed.is_empty(), "{changed:?}");
    app.shutdown().await;
}

/// The cursor a feed subscribed now gets.
async fn cursor_now(url: &ws::Endpoint) -> i64 {
    let mut feed = ws::connect(url).await;
    ws::send(&mut feed, json!({"type": "subscribe_all"})).await;
    next_of_type(&mut feed, "subscribed_all").await["cursor"]
        .as_i64()
        .expect("a cursor")
}

/// A feed resumed from `cursor`: its `subscribed_all`, and the packages sent.
async fn resume_from(url: &ws::Endpoint, cursor: i64) -> (Value, Vec<String>) {
    let mut feed = ws::connect(url).await;
    ws::send(
        &mut feed,
        json!({"type": "subscribe_all", "since_seq": cursor}),
    )
    .await;
    let mut view = FeedView::default();
    let told = view.until(&mut feed, "subscribed_all", 0).await;
    (told, view.states.into_keys().collect())
}

/// While the dashboard is away, one package moves; reads carry the seq too,
/// so a client knows which updates it holds.
async fn moves_while_away(app: &TestApp, moving: &str) {
    let moved = app
        .post_json(
            &format!("/packages/{moving}/locations"),
            &json!({"latitude": 51.5072, "longitude": -0.1276}),
        )
        .await;
    assert_eq!(moved.status(), 202);
    applied(app, moving, 2).await;
    let read: Value = app
        .get(&format!("/packages/{moving}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["seq"], 2, "{read}");
}
