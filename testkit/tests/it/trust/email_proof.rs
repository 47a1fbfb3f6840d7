//! An email counts only once proven, by someone who has both the account's
//! password and the mail: a stranger who signs up with a recipient's
//! address sees nothing addressed to it, even once the recipient's mailbox
//! (or its link scanner) opens the mailed link; the address's owner takes
//! the account over with a reset link instead. Sign-up answers the same
//! whether the address has an account; password resets go through the same
//! mailed, single-use links. The mail goes through the tests' real SMTP
//! server ([`testkit::mail`]).

use serde_json::{json, Value};
use shared::auth::links::{self, Purpose};
use std::time::Duration;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp, WAIT};
use testkit::mail;
use testkit::ws::{self, next_json, send};

const MAIL_WAIT: Duration = Duration::from_secs(20);

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

fn address(who: &str) -> String {
    format!("{who}-{}@example.test", uuid::Uuid::new_v4().simple())
}

async fn register(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/register"))
        .json(&json!({"email": email, "password": password, "name": "Someone"}))
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Waits until the workers made the account.
async fn account_exists(app: &TestApp, email: &str) {
    testkit::eventually(WAIT, "the account", || async {
        let found: Option<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&app.env.pool)
            .await
            .unwrap();
        found.map(drop)
    })
    .await;
}

/// Waits until the package shard that takes commands keyed by `key` (an
/// email, or an account id) has handled everything sent to it before, by
/// sending a sign-up keyed to the same shard and waiting for its mail. A
/// shard's queue has one active consumer, taken in order, so by then the
/// earlier command was decided, and a mail it caused was handed to the
/// mail pool first. (Instead of sleeping and hoping it was long enough.)
async fn shard_barrier(app: &TestApp, key: &str) {
    let topology = app.env.topology();
    let shard = topology.shard_of(key);
    let email = loop {
        let candidate = address("barrier");
        if topology.shard_of(&candidate) == shard {
            break candidate;
        }
    };
    assert_eq!(
        register(app, &email, "a barrier's password").await.status(),
        202
    );
    mail::next_to(&email, MAIL_WAIT).await;
}

/// The id of the account with `email`.
async fn user_id(app: &TestApp, email: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.env.pool)
        .await
        .expect("the account");
    id.to_string()
}

/// `GET /packages/{tn}` as `client`.
async fn read_package(app: &TestApp, client: &reqwest::Client, tn: &str) -> reqwest::Response {
    client
        .get(app.url(&format!("/packages/{tn}")))
        .send()
        .await
        .unwrap()
}

/// When the account with this email was verified, if it was.
async fn verified_at(app: &TestApp, email: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar("SELECT email_verified_at FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.env.pool)
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> String {
    let answer = login(app, email, password).await;
    assert_eq!(answer.status(), 200);
    json_of(answer).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_stranger_who_signs_up_with_a_recipients_email_sees_nothing_addressed_to_it() {
    let mut app = TestApp::spawn_with(Options::default().with_mail()).await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let victim = address("victim");
    let tn = tracking_number();
    let mut body = package_body(&tn);
    body["recipient_email"] = json!(victim);
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);

    // The stranger signs up with the recipient's address and signs in.
    assert_eq!(
        register(&app, &victim, "the stranger's password")
            .await
            .status(),
        202
    );
    account_exists(&app, &victim).await;
    let token = signed_in(&app, &victim, "the stranger's password").await;
    let as_stranger = testkit::app::client_with_token(&token);
    let read = read_package(&app, &as_stranger, &tn).await;
    expect_error(read, 404).await;
    let listed = json_of(as_stranger.get(app.url("/packages")).send().await.unwrap()).await;
    assert_eq!(
        listed,
        json!([]),
        "nothing addressed to the email is listed"
    );
    let mut socket = ws::connect(&ws::Endpoint::new(&broadcaster.base_url, &token)).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "tracking_number": tn, "since_seq": 0}),
    )
    .await;
    let refused = next_json(&mut socket, WAIT).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["error"], format!("package {tn} not found"));

    // The link went to the address, not to whoever typed it in. Opening
    // it (a mail scanner does) changes nothing, nor does presenting its
    // token without the account's session, or with another account's.
    let mail = mail::next_to(&victim, MAIL_WAIT).await;
    assert!(mail.subject.contains("Confirm"), "{}", mail.subject);
    let token_in_link = mail.token_after("/verify-email#token=");
    let opened = reqwest::get(app.url(&format!("/auth/verify-email?token={token_in_link}")))
        .await
        .unwrap();
    assert!(opened.status().is_client_error(), "{}", opened.status());
    let verify = |client: reqwest::Client| {
        client
            .post(app.url("/auth/verify-email"))
            .json(&json!({ "token": token_in_link }))
            .send()
    };
    expect_error(verify(reqwest::Client::new()).await.unwrap(), 401).await;
    let someone_else = app.caller(shared::auth::Role::Customer).await;
    let refused = expect_error(verify(app.client_as(&someone_else)).await.unwrap(), 400).await;
    assert!(refused.contains("not for this account"), "{refused}");
    shard_barrier(&app, &user_id(&app, &victim).await).await;
    expect_error(read_package(&app, &as_stranger, &tn).await, 404).await;
    let verified = verified_at(&app, &victim).await;
    assert_eq!(verified, None, "the address is not verified");

    owner_takes_the_account_over(&app, &victim, &as_stranger).await;
    let owner = signed_in(&app, &victim, "the owner's own password").await;
    let read = testkit::app::client_with_token(&owner)
        .get(app.url(&format!("/packages/{tn}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "the owner sees the package");
    app.shutdown().await;
}

/// The address's owner takes the account over with a reset link: that
/// proves the mailbox, and ends the stranger's sessions.
async fn owner_takes_the_account_over(app: &TestApp, victim: &str, as_stranger: &reqwest::Client) {
    let asked = reqwest::Client::new()
        .post(app.url("/auth/password-reset"))
        .json(&json!({ "email": victim }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let reset = mail::next_to(victim, MAIL_WAIT).await;
    let done = reqwest::Client::new()
        .post(app.url("/auth/password-reset/confirm"))
        .json(&json!({"token": reset.token_after("/reset-password#token="), "password": "the owner's own password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    testkit::eventually(
        Duration::from_secs(5),
        "the stranger's session's end",
        || async {
            let status = as_stranger
                .get(app.url("/packages"))
                .send()
                .await
                .unwrap()
                .status();
            (status == 401).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_sign_up_answers_the_same_whether_the_address_has_an_account_and_tells_its_owner() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let owner = address("owner");
    let first = register(&app, &owner, "the owner's password").await;
    assert_eq!(first.status(), 202);
    let first = json_of(first).await;
    let welcome = mail::next_to(&owner, MAIL_WAIT).await;
    assert!(welcome.subject.contains("Confirm"), "{}", welcome.subject);

    let second = register(&app, &owner.to_uppercase(), "someone else's password").await;
    assert_eq!(second.status(), 202);
    assert_eq!(json_of(second).await, first, "the same answer");
    let notice = mail::next_to(&owner, MAIL_WAIT).await;
    assert!(
        notice.subject.contains("tried to sign up"),
        "{}",
        notice.subject
    );
    assert!(!notice.body.contains("token="), "{}", notice.body);
    // The account is as it was: the second password opens nothing.
    expect_error(login(&app, &owner, "someone else's password").await, 401).await;
    assert_eq!(
        login(&app, &owner, "the owner's password").await.status(),
        200
    );
    // Asked again at once, the owner is not mailed again (no flooding).
    assert_eq!(
        register(&app, &owner, "a third password here")
            .await
            .status(),
        202
    );
    shard_barrier(&app, &owner).await;
    assert_eq!(mail::count_to(&owner), 0, "one notice per few minutes");
    app.shutdown().await;
}

#[tokio::test]
async fn a_reset_link_works_once_for_thirty_minutes_and_ends_every_session() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let email = address("forgetful");
    assert_eq!(
        register(&app, &email, "the old password").await.status(),
        202
    );
    let _welcome = mail::next_to(&email, MAIL_WAIT).await;
    let old_session = signed_in(&app, &email, "the old password").await;
    let reset = |body: Value| {
        reqwest::Client::new()
            .post(app.url("/auth/password-reset"))
            .json(&body)
            .send()
    };
    let asked = reset(json!({ "email": email })).await.unwrap();
    assert_eq!(asked.status(), 202);
    let answer = json_of(asked).await;
    // An address with no account: the same answer, and no mail.
    let nobody = address("nobody");
    let unknown = reset(json!({ "email": nobody })).await.unwrap();
    assert_eq!(unknown.status(), 202);
    assert_eq!(json_of(unknown).await, answer);

    let mail = mail::next_to(&email, MAIL_WAIT).await;
    assert!(mail.subject.contains("Reset"), "{}", mail.subject);
    let token = mail.token_after("/reset-password#token=");
    let confirm = |token: String, password: &'static str| {
        reqwest::Client::new()
            .post(app.url("/auth/password-reset/confirm"))
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    expect_error(confirm(token.clone(), "short").await.unwrap(), 422).await;
    let done = confirm(token.clone(), "the new password").await.unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(
        mail::count_to(&nobody),
        0,
        "nothing was sent to an address with no account"
    );

    // Every session of the account ends, within seconds.
    testkit::eventually(Duration::from_secs(5), "the old session's end", || async {
        let status = testkit::app::client_with_token(&old_session)
            .get(app.url("/me/deliveries"))
            .send()
            .await
            .unwrap()
            .status();
        (status == 401).then_some(())
    })
    .await;
    expect_error(login(&app, &email, "the old password").await, 401).await;
    assert_eq!(login(&app, &email, "the new password").await.status(), 200);
    // The link worked once.
    let again = confirm(token, "yet another password").await.unwrap();
    assert!(expect_error(again, 400).await.contains("already used"));
    // And a link past its 30 minutes is refused, however well signed.
    let user: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    let old = links::claims(
        Purpose::ResetPassword,
        user,
        None,
        Some("any".into()),
        shared::auth::token::now() - 31 * 60,
    );
    let stale = links::sign(&app.env.config.signing, &old);
    assert!(
        expect_error(confirm(stale, "a later password").await.unwrap(), 400)
            .await
            .contains("expired")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_account_confirms_its_address_on_its_own_session_and_may_not_flood_it() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let email = address("later");
    let tn = tracking_number();
    let mut body = package_body(&tn);
    body["recipient_email"] = json!(email);
    assert_eq!(app.post_json("/packages", &body).await.status(), 201);
    assert_eq!(
        register(&app, &email, "a password of mine").await.status(),
        202
    );
    let first = mail::next_to(&email, MAIL_WAIT).await;
    let token = signed_in(&app, &email, "a password of mine").await;
    let as_account = testkit::app::client_with_token(&token);
    let resend = || as_account.post(app.url("/auth/verify-email/resend")).send();
    // The sign-up's mail went out moments ago: a resend now is throttled.
    assert_eq!(resend().await.unwrap().status(), 202);
    shard_barrier(&app, &user_id(&app, &email).await).await;
    assert_eq!(mail::count_to(&email), 0, "no second mail within minutes");
    expect_error(read_package(&app, &as_account, &tn).await, 404).await;
    // The first link still works, presented by the account's own session.
    let link = first.token_after("/verify-email#token=");
    let verified = as_account
        .post(app.url("/auth/verify-email"))
        .json(&json!({ "token": link }))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(json_of(verified).await["email"], email);
    // Then the account follows the package, within seconds, on the token
    // it has (the read caches learn of the change).
    testkit::eventually(
        Duration::from_secs(5),
        "the verified recipient's read",
        || async {
            let read = read_package(&app, &as_account, &tn).await;
            (read.status() == 200).then_some(())
        },
    )
    .await;
    // Presenting the link again is harmless; a forged one is refused.
    let again = as_account
        .post(app.url("/auth/verify-email"))
        .json(&json!({ "token": link }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "the address stays verified");
    let forged = as_account
        .post(app.url("/auth/verify-email"))
        .json(&json!({ "token": "1.e30.AAAA" }))
        .send()
        .await
        .unwrap();
    expect_error(forged, 400).await;
    app.shutdown().await;
}

#[tokio::test]
async fn in_a_browser_the_mailed_reset_link_sets_a_new_password() {
    let mut app = TestApp::spawn_with(Options::default().with_mail()).await;
    let base = crate::packages::tracking::pages(&mut app).await;
    let email = address("browser");
    assert_eq!(
        register(&app, &email, "the old password").await.status(),
        202
    );
    let welcome = mail::next_to(&email, MAIL_WAIT).await;
    let verify = welcome.token_after("/verify-email#token=");
    let asked = reqwest::Client::new()
        .post(app.url("/auth/password-reset"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let mail = mail::next_to(&email, MAIL_WAIT).await;
    // The mail links to the system's own pages; this test serves them on
    // another port.
    let token = mail.token_after("/reset-password#token=");
    crate::packages::tracking::run_in_browser(
        "reset.test.mjs",
        7,
        vec![
            ("BASE_URL", base.clone()),
            ("VERIFY_LINK", format!("{base}/verify-email#token={verify}")),
            ("PASSWORD", "the old password".to_owned()),
            ("RESET_LINK", format!("{base}/reset-password#token={token}")),
            ("EMAIL", email.clone()),
        ],
    )
    .await;
    assert_eq!(
        login(&app, &email, "a brand new password").await.status(),
        200
    );
    let verified = verified_at(&app, &email).await;
    assert!(verified.is_some(), "the page confirmed the address");
    // The page's own request sent a second link (throttled: the first went
    // out moments ago), so nothing more waits for the address.
    mail::clear(&email);
    app.shutdown().await;
}
