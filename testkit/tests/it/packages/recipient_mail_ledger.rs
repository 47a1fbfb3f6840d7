//! The recipient-mail ledger, as the recipient and the operator see it: a
//! mail request the broker delivers twice is mailed once; an address gets
//! at most its daily cap however many packages name it; a notice days old
//! is dropped; a claim left by a sender that died lapses so the mail still
//! goes, and is then no longer the dead sender's to mark; old rows are
//! pruned.

use shared::recipients::{Locale, NoticeKind, Preferences};
use shared::wire::{Envelope, Mail, MailRequest, Principal};
use std::time::Duration;
use testkit::app::{tracking_number, Options, TestApp};
use testkit::mail;
use uuid::Uuid;
use workers::mail::recipients::ledger::{self, Admission};

const MAIL_WAIT: Duration = Duration::from_secs(30);

fn address() -> String {
    format!("ledger-{}@example.test", Uuid::new_v4().simple())
}

/// What the mail pool's recipient flow queues for an out-for-delivery
/// change (its id derived from the change), outside quiet hours (`Etc/GMT-14`
/// would do no better: urgent mail is never held).
fn out_for_delivery(mail_id: Uuid, to: &str) -> Envelope<MailRequest> {
    Envelope::new(
        mail_id,
        chrono::Utc::now(),
        Principal::default(),
        MailRequest {
            to: shared::domain::Email::parse(to).expect("an address"),
            mail: Mail::RecipientNotice {
                tracking_number: tracking_number(),
                notice: NoticeKind::OutForDelivery,
                eta: None,
                preferences: Preferences {
                    locale: Locale::En,
                    time_zone: "UTC".into(),
                    notices: NoticeKind::all(),
                },
            },
        },
    )
}

/// Mail requests queued and nothing left unsent: then what was not mailed
/// will not be.
async fn settled(app: &TestApp) {
    let queue = app.env.topology().mail_queue();
    testkit::eventually(MAIL_WAIT, "the mail queue drained", || async {
        (app.env.queue_depth(&queue).await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_replayed_mail_goes_once_and_an_address_gets_at_most_its_daily_cap() {
    let app = TestApp::spawn_with(Options::default().with_recipient_mail_cap(2)).await;
    let email = address();
    let first = out_for_delivery(Uuid::new_v4(), &email);
    app.env.publish_mail(&first).await;
    app.env.publish_mail(&first).await;
    mail::next_to(&email, MAIL_WAIT).await;
    settled(&app).await;
    assert_eq!(mail::count_to(&email), 0, "a replayed mail went twice");

    // The second mail of the day goes; the third (another package, the
    // same address in other letters' case) is over the cap of 2.
    app.env
        .publish_mail(&out_for_delivery(Uuid::new_v4(), &email))
        .await;
    mail::next_to(&email, MAIL_WAIT).await;
    app.env
        .publish_mail(&out_for_delivery(Uuid::new_v4(), &email.to_uppercase()))
        .await;
    let witness = address();
    app.env
        .publish_mail(&out_for_delivery(Uuid::new_v4(), &witness))
        .await;
    mail::next_to(&witness, MAIL_WAIT).await;
    settled(&app).await;
    assert_eq!(mail::count_to(&email), 0, "a mail over the daily cap");
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recipient_mail_log WHERE email = $1 AND sent_at IS NOT NULL",
    )
    .bind(&email)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(sent, 2);
    // A mail request queued four days ago (a replay older than the
    // ledger's memory could be) is news no more.
    let late = address();
    let mut old = out_for_delivery(Uuid::new_v4(), &late);
    old.occurred_at -= chrono::Duration::days(4);
    app.env.publish_mail(&old).await;
    settled(&app).await;
    assert_eq!(mail::count_to(&late), 0, "a four-day-old notice went");
    mail::clear(&email);
    mail::clear(&witness);
    app.shutdown().await;
}

#[tokio::test]
async fn a_claim_whose_sender_died_lapses_and_old_rows_are_pruned() {
    let app = TestApp::spawn_with(Options::without_workers()).await;
    let pool = &app.env.pool;
    let (mail_id, email) = (Uuid::new_v4(), address());
    let now = chrono::Utc::now();
    let admit = |id, at| ledger::admit(pool, id, &email, 20, at);
    let Admission::Send {
        unsubscribe_token,
        claim: first_claim,
    } = admit(mail_id, now).await.unwrap()
    else {
        panic!("a new mail is admitted");
    };
    assert!(shared::recipients::unsubscribe::well_formed(
        &unsubscribe_token
    ));
    // The sender was killed before it marked the mail: a redelivery moments
    // later waits, one after the claim lapsed sends (the same link).
    let soon = now + chrono::Duration::seconds(30);
    assert_eq!(admit(mail_id, soon).await.unwrap(), Admission::Busy);
    let later = now + chrono::Duration::minutes(3);
    let Admission::Send {
        unsubscribe_token: same_link,
        claim,
    } = admit(mail_id, later).await.unwrap()
    else {
        panic!("a lapsed claim is taken over");
    };
    assert_eq!(same_link, unsubscribe_token);
    // The first sender wakes up and fails: the claim is no longer its own
    // to give back, and the new sender's mark holds.
    ledger::release(pool, mail_id, first_claim).await.unwrap();
    ledger::sent(pool, mail_id, claim, later).await.unwrap();
    let an_hour_on = later + chrono::Duration::hours(1);
    assert_eq!(
        admit(mail_id, an_hour_on).await.unwrap(),
        Admission::Skip("already_sent")
    );

    // A week on, the row is pruned; a mail given back is gone at once.
    let given_back = Uuid::new_v4();
    let Admission::Send { claim, .. } = ledger::admit(pool, given_back, &address(), 20, now)
        .await
        .unwrap()
    else {
        panic!("a new mail is admitted");
    };
    ledger::release(pool, given_back, claim).await.unwrap();
    let pruned = workers::accounts::prune::prune(pool, now + chrono::Duration::days(8))
        .await
        .unwrap();
    assert_eq!(pruned.recipient_mails, 1, "{pruned:?}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM recipient_mail_log")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    app.shutdown().await;
}
