//! The recipient's mail as arrival estimates shape it: the out-for-delivery
//! mail waits (once, briefly) for the package's first estimate and shows
//! its window in the recipient's time zone; a failed attempt is mailed too.

use super::{create_going, drive, on_a_run, package};
use crate::packages::recipient_mail::{address, zone_where_it_is};
use serde_json::json;
use std::time::Duration;
use testkit::app::{tracking_number, Options, TestApp};
use testkit::mail;

const MAIL_WAIT: Duration = Duration::from_secs(30);

/// A package going 1.5 km north whose recipient asked for mail, in a zone
/// where it is 2 p.m. (no quiet hours).
struct Notified {
    email: String,
    zone: String,
    tn: String,
}

async fn notified_going(app: &TestApp) -> Notified {
    let (email, zone, tn) = (address(), zone_where_it_is(14), tracking_number());
    let recipient = json!({"recipient_email": email, "notify_recipient": true,
        "recipient_time_zone": zone, "recipient_locale": "en"});
    create_going(app, &tn, 1_500.0, recipient).await;
    Notified { email, zone, tn }
}

#[tokio::test]
async fn the_out_for_delivery_mail_shows_the_first_estimate_and_a_failed_attempt_is_mailed() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let Notified { email, zone, tn } = notified_going(&app).await;
    // Out for delivery, then on the courier's run: no estimate exists until
    // the courier's first fix, which comes while the mail waits for one.
    let courier = on_a_run(&app, &[&tn]).await;
    drive(&app, &courier, chrono::Utc::now(), &[(0, 0.0)]).await;

    let out = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(out.subject, format!("Your parcel {tn} is out for delivery"));
    let eta: shared::notices::Eta = serde_json::from_value(package(&app, &tn).await["eta"].clone())
        .expect("the package has an estimate");
    let clock = |t| shared::recipients::quiet::clock(&zone, t);
    let window = format!("{}–{}", clock(eta.earliest), clock(eta.latest));
    assert!(
        out.body.contains(&format!("expected between {window}")),
        "the mail shows the estimate's window {window}:\n{}",
        out.body
    );
    assert!(out.html.contains(&window), "{}", out.html);

    app.status_changed(&tn, json!({"status": "failed"})).await;
    let failed = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(
        failed.subject,
        format!("We could not deliver your parcel {tn}")
    );
    assert!(failed.body.contains("Follow it here: "), "{}", failed.body);
    assert!(
        failed.body.contains("Stop these mails: "),
        "{}",
        failed.body
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_out_for_delivery_mail_still_waiting_when_the_parcel_is_delivered_is_not_sent() {
    let app = TestApp::spawn_with(Options::default().with_mail()).await;
    let Notified { email, tn, .. } = notified_going(&app).await;
    // Out for delivery with no courier fix: its mail waits (5 s in tests)
    // for an estimate, and the parcel is delivered meanwhile.
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await;
    app.status_changed(&tn, json!({"status": "out_for_delivery"}))
        .await;
    app.status_changed(&tn, json!({"status": "delivered"}))
        .await;

    let delivered = mail::next_to(&email, MAIL_WAIT).await;
    assert_eq!(delivered.subject, format!("Your parcel {tn} was delivered"));
    // Past the wait: the out-for-delivery mail came back and was dropped.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        mail::count_to(&email),
        0,
        "no 'out for delivery' after 'delivered'"
    );
    app.shutdown().await;
}
