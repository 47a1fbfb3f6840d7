//! Nothing is trusted for being on the broker: whoever can publish there
//! but lacks MESSAGE_SIGNING_KEY cannot name an admin, rotate a device's
//! key, post positions, or show watchers a fake update.

use lapin::BasicProperties;
use serde_json::json;
use shared::auth::Role;
use shared::wire::{
    Command, Envelope, Event, LocationBatch, PackageEvent, RegisterUser, SigningKeys,
};
use std::time::Duration;
use testkit::app::{TestApp, WAIT};
use testkit::ws::{self, next_json, send};

fn register_admin(email: &str) -> Envelope<Command> {
    Envelope::new(
        uuid::Uuid::now_v7(),
        chrono::Utc::now(),
        testkit::caller(Role::Admin).principal(),
        Command::RegisterUser(RegisterUser {
            user_id: uuid::Uuid::new_v4(),
            email: shared::domain::Email::parse(email).unwrap(),
            name: shared::domain::BoundedText::parse("Mallory", 100).unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            role: Role::Admin,
        }),
    )
}

async fn publish_raw(app: &TestApp, routing_key: &str, exchange: &str, payload: &[u8]) {
    shared::amqp::publish_confirmed(
        app.env.channel(),
        exchange,
        routing_key,
        payload,
        BasicProperties::default().with_delivery_mode(2),
        shared::amqp::Routing::BestEffort,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

async fn accounts_named(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn commands_published_without_the_key_create_nothing_and_are_dead_lettered() {
    let app = TestApp::spawn().await;
    let topology = app.env.topology().clone();
    let exchange = topology.commands_exchange();
    let (unsigned, forged, genuine) = (
        "mallory-unsigned@example.test",
        "mallory-forged@example.test",
        "admin-genuine@example.test",
    );
    // Unsigned: the plain envelope, straight onto the shard.
    let envelope = register_admin(unsigned);
    let key = topology.package_routing_key(&envelope.body.shard_key(), "register");
    publish_raw(&app, &key, &exchange, &envelope.encode().unwrap()).await;
    // Sealed with a key that is not the deployment's.
    let stranger = SigningKeys::new("test", b"a key somebody guessed, 32 bytes", None);
    let envelope = register_admin(forged);
    let key = topology.package_routing_key(&envelope.body.shard_key(), "register");
    publish_raw(&app, &key, &exchange, &envelope.seal(&stranger).unwrap()).await;
    // Positions, unsigned.
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    let batch = Envelope::new(
        uuid::Uuid::now_v7(),
        chrono::Utc::now(),
        testkit::dispatcher(),
        LocationBatch::new(vec![testkit::location_point(&tn)]),
    );
    publish_raw(
        &app,
        shared::topology::Topology::LOCATION_ROUTING_KEY,
        &exchange,
        &batch.encode().unwrap(),
    )
    .await;
    // The same command, sealed with the deployment's key: applied, so the
    // refusals above are the seal's doing, not the command's.
    app.env.publish_command(&register_admin(genuine)).await;

    let letters = testkit::eventually(WAIT, "three refusals dead-lettered", || async {
        let letters = workers::dlq::list(&app.env.config.brokers, &topology, 10)
            .await
            .ok()?;
        (letters.len() == 3).then_some(letters)
    })
    .await;
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    assert_eq!(
        reasons.iter().filter(|r| r.contains("unsigned")).count(),
        2,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| r.contains("forged")).count(),
        1,
        "{reasons:?}"
    );
    testkit::eventually(WAIT, "the genuine account", || async {
        (accounts_named(&app, genuine).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        accounts_named(&app, unsigned).await,
        0,
        "no admin from an unsigned message"
    );
    assert_eq!(
        accounts_named(&app, forged).await,
        0,
        "no admin from a forged seal"
    );
    let points = app.get(&format!("/packages/{tn}/locations")).await;
    assert_eq!(points.json::<serde_json::Value>().await.unwrap(), json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn an_event_that_does_not_verify_reaches_no_watcher() {
    let mut app = TestApp::spawn().await;
    let broadcaster = app.broadcaster(|_| {}).await;
    let tn = testkit::app::tracking_number();
    app.created(&tn).await;
    let mut watcher = ws::connect(&broadcaster.url).await;
    ws::subscribe(&mut watcher, &tn).await;
    let number = shared::domain::TrackingNumber::parse(&tn).unwrap();
    let fake = Envelope::new(
        uuid::Uuid::now_v7(),
        chrono::Utc::now(),
        testkit::dispatcher(),
        Event::from(PackageEvent::StatusChanged(shared::wire::StatusChanged {
            package_id: uuid::Uuid::new_v4(),
            tracking_number: number,
            previous: shared::domain::PackageStatus::Pending,
            status: shared::domain::PackageStatus::Delivered,
            location: Some("a forger's doorstep".into()),
            coordinates: None,
            version: 2,
            seq: 2,
            changed_at: chrono::Utc::now(),
        })),
    );
    let key = shared::topology::Topology::event_routing_key(&tn, "status_changed");
    let events = app.env.topology().events_exchange();
    publish_raw(&app, &key, &events, &fake.encode().unwrap()).await;
    testkit::eventually(WAIT, "the forged event refused", || async {
        (broadcaster.hub.metrics.events_refused.get() == 1).then_some(())
    })
    .await;
    // A real change afterwards is the next thing the watcher hears, on a
    // connection that stayed open.
    app.status_changed(&tn, json!({"status": "in_transit"}))
        .await;
    let heard = next_json(&mut watcher, WAIT)
        .await
        .expect("the real update");
    assert_eq!(heard["data"]["status"], "in_transit", "{heard}");
    assert_eq!(heard["seq"], 2);
    send(
        &mut watcher,
        json!({"type": "unsubscribe", "tracking_number": tn}),
    )
    .await;
    assert_eq!(
        next_json(&mut watcher, WAIT).await.expect("an answer")["type"],
        "unsubscribed"
    );
    app.shutdown().await;
}

fn update_user(
    user_id: uuid::Uuid,
    occurred_at: chrono::DateTime<chrono::Utc>,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Envelope<Command> {
    Envelope::new(
        uuid::Uuid::now_v7(),
        occurred_at,
        testkit::caller(Role::Admin).principal(),
        Command::UpdateUser(shared::wire::UpdateUser {
            user_id,
            role,
            disabled,
        }),
    )
}

#[tokio::test]
async fn a_genuine_message_replayed_later_does_not_undo_the_changes_since() {
    let app = TestApp::spawn().await;
    let account = app.caller(Role::Customer).await;
    // A genuine, sealed message someone copied off the broker a minute ago:
    // "enable this account".
    let copied = update_user(
        account.user_id,
        chrono::Utc::now() - chrono::Duration::seconds(60),
        None,
        Some(false),
    );
    // Since then an admin disabled the account.
    let disabled = app
        .http
        .patch(app.url(&format!("/users/{}", account.user_id)))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    // The copy is replayed, then a later change follows it on the same
    // shard: once that one is applied, the copy has been handled.
    app.env.publish_command(&copied).await;
    let later = update_user(
        account.user_id,
        chrono::Utc::now(),
        Some(Role::Courier),
        None,
    );
    app.env.publish_command(&later).await;
    let (role, disabled_at) = testkit::eventually(WAIT, "the later change", || async {
        let row: (String, Option<chrono::DateTime<chrono::Utc>>) =
            sqlx::query_as("SELECT role, disabled_at FROM users WHERE id = $1")
                .bind(account.user_id)
                .fetch_one(&app.env.pool)
                .await
                .unwrap();
        (row.0 == "courier").then_some(row)
    })
    .await;
    assert_eq!(role, "courier");
    assert!(
        disabled_at.is_some(),
        "the replayed copy re-enabled the account"
    );
    app.shutdown().await;
}
