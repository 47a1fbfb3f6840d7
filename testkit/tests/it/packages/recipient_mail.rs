//! Mail to a package's recipient, as the recipient sees it in the tests'
//! real SMTP server ([`testkit::mail`]): out for delivery and delivered,
//! each with a working tracking link and a one-click unsubscribe link
//! (and `List-Unsubscribe` headers); after unsubscribing, no more. Quiet
//! hours in the recipient's time zone hold what is not urgent.

use serde_json::{json, Value};
use std::time::Duration;
use testkit::app::{expect_error, package_body, tracking_number, Options, TestApp};
use testkit::mail;

const MAIL_WAIT: Duration = Duration::from_secs(30);

pub(crate) fn address() -> String {
    format!("recipient-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// A fixed-offset time zone in which it is now about `hour` o'clock
/// (`Etc/GMT-3` is UTC+3: the sign is POSIX's, reversed).
pub(crate) fn zone_where_it_is(hour: i64) -> String {
    use chrono::Timelike;
    let now = i64::from(chrono::Utc::now().hour());
    let mut offset = (hour - now).rem_euclid(24);
    if offset > 14 {
        offset -= 24;
    }
    match offset {
        0 => "Etc/GMT".to_owned(),
        east if east > 0 => format!("Etc/GMT-{east}"),
        west => format!("Etc/GMT+{}", -west),
    }
}

fn notified(tn: &str, email: &str, zone: &str, locale: &str) -> Value {
    let mut body = package_body(tn);
    body["recipient_email"] = json!(email);
    body["notify_recipient"] = json!(true);
    body["recipient_time_zone"] = json!(zone);
    body["recipient_locale"] = json!(locale);
    body
}

async fn created(app: &TestApp, body: &Value) {
    let response = app.post_json("/packages", body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn out_for_delivery(app: &TestApp, tn: &str) {
    app.status_changed(tn, json!({"status": "in_transit"}))
        .await;
    app.status_changed(tn, json!({"status": "out_for_delivery"}))
        .await;
}

/// The link after `label: ` in a mail's text.
fn link(mail: &mail::Mail, label: &str) -> String {
    mail.body
        .split(&format!("{label}: "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label} link in:\n{}", mail.body))
        .to_owned()
}

#[tokio::test]
async fn a_recipient_is_mailed_out_for_delivery_and_delivered_and_can_stop_it_in_one_click() {
    // Ingest serves the built pages (scripts/test.sh builds web/dist), so
    // the mailed tracking link is followed to the page a recipient sees.
    let pages = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/dist");
    let options = Options::default()
        .with_mail()
        .ingest(move |config| config.web.root = pages.into());
    let app = TestApp::spawn_with(options).await;
    let email = address();
    let tn = tracking_number();
    created(&app, &notified(&tn, &email, &zone_where_it_is(14), "en")).await;
    out_for_delivery(&app, &tn).await;

    let first = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(
        first.subject,
        format!("Your parcel {tn} is out for delivery")
    );
    let track = link(&first, "Follow it here");
    assert_eq!(
        track,
        app.url(&format!("/track/{tn}")).replace("/api/v1", "")
    );
    let page = reqwest::get(&track).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let shown: Value = reqwest::get(app.url(&format!("/track/{tn}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "out_for_delivery", "{shown}");
    // The HTML part carries the same links; the headers offer one click.
    let unsubscribe = link(&first, "Stop these mails");
    assert!(
        first.html.contains(&format!("href=\"{track}\"")),
        "{}",
        first.html
    );
    assert!(first.html.contains(&unsubscribe), "{}", first.html);
    assert_eq!(first.header("List-Unsubscribe"), format!("<{unsubscribe}>"));
    assert_eq!(
        first.header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );

    // Out for delivery again (a scan repeated) is nothing new to them.
    app.status_changed(&tn, json!({"status": "out_for_delivery"}))
        .await;
    app.status_changed(&tn, json!({"status": "delivered"}))
        .await;
    let second = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(second.subject, format!("Your parcel {tn} was delivered"));
    assert_eq!(link(&second, "Stop these mails"), unsubscribe);

    // Opening the link (or a mail scanner following it) changes nothing:
    // it shows a button. A forged token is refused.
    let client = reqwest::Client::new();
    let shown = client.get(&unsubscribe).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert!(shown
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\""));
    // The token is random, and says nothing of the address.
    let token = unsubscribe.split("token=").nth(1).unwrap_or_default();
    assert!(
        shared::recipients::unsubscribe::well_formed(token),
        "{unsubscribe}"
    );
    let forged = unsubscribe.replace("token=", "token=x");
    expect_error(client.post(&forged).send().await.unwrap(), 404).await;
    let unknown = unsubscribe.replace(token, &shared::recipients::unsubscribe::new_token());
    expect_error(client.post(&unknown).send().await.unwrap(), 404).await;
    let suppressed: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_suppressions")
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(suppressed, 0, "a GET or a forged link unsubscribed");

    // The mail client's one-click (RFC 8058).
    let clicked = client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), 200);

    // A later parcel to the same address (in other letters' case) sends
    // nothing; one to another address, moved after it, shows the mail pool
    // got that far.
    let later = tracking_number();
    created(
        &app,
        &notified(&later, &email.to_uppercase(), &zone_where_it_is(14), "en"),
    )
    .await;
    let witness_email = address();
    let witness = tracking_number();
    created(
        &app,
        &notified(&witness, &witness_email, &zone_where_it_is(14), "en"),
    )
    .await;
    out_for_delivery(&app, &later).await;
    out_for_delivery(&app, &witness).await;
    let seen = mail::next_to(&witness_email, MAIL_WAIT).await;
    assert!(seen.subject.contains(&witness), "{}", seen.subject);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mail::count_to(&email), 0, "mail after unsubscribing");
    mail::clear(&email);
    mail::clear(&witness_email);
    app.shutdown().await;
}

#[tokio::test]
async fn a_recipient_who_asked_only_for_delivered_gets_only_that() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let email = address();
    let tn = tracking_number();
    let mut body = notified(&tn, &email, &zone_where_it_is(14), "en");
    body["recipient_notices"] = json!(["delivered"]);
    created(&app, &body).await;
    out_for_delivery(&app, &tn).await;
    app.status_changed(&tn, json!({"status": "delivered"}))
        .await;
    let only = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(only.subject, format!("Your parcel {tn} was delivered"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mail::count_to(&email), 0, "a notice not asked for");
    mail::clear(&email);
    app.shutdown().await;
}

#[tokio::test]
async fn in_quiet_hours_out_for_delivery_goes_at_once_and_delivered_waits() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let email = address();
    let tn = tracking_number();
    created(&app, &notified(&tn, &email, &zone_where_it_is(2), "de")).await;
    out_for_delivery(&app, &tn).await;
    let urgent = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(urgent.subject, format!("Ihr Paket {tn} ist in Zustellung"));
    assert!(urgent.html.contains("lang=\"de\""), "{}", urgent.html);

    app.status_changed(&tn, json!({"status": "delivered"}))
        .await;
    let held = app.env.topology().mail_held_queue();
    testkit::eventually(MAIL_WAIT, "the delivered mail held", || async {
        (app.env.queue_depth(&held).await == 1).then_some(())
    })
    .await;
    assert_eq!(mail::count_to(&email), 0, "a mail sent in quiet hours");
    mail::clear(&email);
    app.shutdown().await;
}

#[tokio::test]
async fn recipient_mail_asked_for_wrongly_is_refused_and_nothing_is_created() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let cases = [
        (
            "notify_recipient",
            json!({"notify_recipient": true, "recipient_email": null}),
        ),
        ("notify_recipient", json!({"notify_recipient": "yes"})),
        (
            "recipient_time_zone",
            json!({"recipient_time_zone": "Mars/Olympus"}),
        ),
        ("recipient_locale", json!({"recipient_locale": "xx"})),
        ("recipient_notices", json!({"recipient_notices": []})),
        (
            "recipient_email",
            json!({"recipient_email": "x<victim@example.test>"}),
        ),
        (
            "recipient_notices",
            json!({"recipient_notices": ["weekly_digest"]}),
        ),
    ];
    for (field, change) in cases {
        let tn = tracking_number();
        let mut body = notified(&tn, &address(), "UTC", "en");
        for (key, value) in change.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        let error = expect_error(app.post_json("/packages", &body).await, 422).await;
        assert!(error.contains(field), "{field}: {error}");
        let read = app.get(&format!("/packages/{tn}")).await;
        assert_eq!(read.status(), 404, "{field}: created anyway");
    }
    app.shutdown().await;
}
