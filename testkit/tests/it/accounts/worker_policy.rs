//! The workers ask the policy again for every command and point: a
//! message that reached the broker by another way than ingest is refused.

use serde_json::Value;
use shared::auth::Role;
use testkit::app::{tracking_number, TestApp};
use testkit::caller;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
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
        courier_points: Vec::new(),
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
            let letters = workers::dlq::list(&app.env.config.brokers, app.env.topology(), 10)
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
