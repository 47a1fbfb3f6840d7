//! Every envelope survives encode → decode, and a future version is refused cleanly.

use chrono::Utc;
use shared::domain::{BoundedText, Coordinates, PackageStatus, TrackingNumber};
use shared::packages::PackageView;
use shared::wire::{
    Command, CreatePackage, Envelope, Event, PackageCreated, PackageEvent, Principal, RejectReason,
    StatusChanged, UpdateStatus, WireError,
};
use uuid::Uuid;

fn tn() -> TrackingNumber {
    TrackingNumber::parse("TRK123456789").unwrap()
}

fn text(s: &str) -> BoundedText {
    BoundedText::parse(s, 200).unwrap()
}

fn roundtrip<B>(body: B) -> Envelope<B>
where
    B: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq + std::fmt::Debug,
{
    let principal = Principal {
        subject: Some("user-1".into()),
        role: Some("admin".into()),
        device: Some(Uuid::new_v4().to_string()),
        address: Some("192.0.2.7".into()),
    };
    let envelope = Envelope::new(Uuid::now_v7(), Utc::now(), principal, body);
    let bytes = envelope.encode().unwrap();
    let back = Envelope::<B>::decode(&bytes).unwrap();
    assert_eq!(back, envelope);
    back
}

fn package() -> PackageView {
    let now = Utc::now();
    PackageView {
        id: Uuid::new_v4(),
        tracking_number: "TRK123456789".into(),
        sender_name: "Ann".into(),
        sender_address: "1 Main St".into(),
        recipient_name: "Bob".into(),
        recipient_address: "2 High St".into(),
        status: PackageStatus::Pending,
        current_location: None,
        weight: Some(2.5),
        description: None,
        latitude: None,
        longitude: None,
        last_seen_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        owner_id: Some(Uuid::new_v4()),
        recipient_email: Some("bob@example.com".into()),
        seq: Some(1),
        courier: None,
        zones: None,
        destination: None,
        promised_by: None,
        eta: None,
    }
}

#[test]
fn create_package_roundtrips() {
    roundtrip(Command::CreatePackage(CreatePackage {
        package_id: Uuid::new_v4(),
        tracking_number: tn(),
        sender_name: text("Ann"),
        sender_address: text("1 Main St"),
        recipient_name: text("Bob"),
        recipient_address: text("2 High St"),
        weight: Some(2.5),
        description: None,
        owner_id: Some(Uuid::new_v4()),
        recipient_email: Some(shared::domain::Email::parse("bob@example.com").unwrap()),
        destination: Some(shared::domain::Coordinates::new(52.5, 13.4).unwrap()),
        promised_by: Some(Utc::now()),
        notify_recipient: Some(shared::recipients::Preferences {
            locale: shared::recipients::Locale::De,
            time_zone: "Europe/Berlin".into(),
            notices: vec![shared::recipients::NoticeKind::Delivered],
        }),
    }));
}

#[test]
fn update_status_roundtrips() {
    roundtrip(Command::UpdateStatus(UpdateStatus {
        tracking_number: tn(),
        status: PackageStatus::InTransit,
        location: Some(text("Newark Distribution Center")),
        coordinates: Some(Coordinates::new(40.7357, -74.1724).unwrap()),
    }));
}

#[test]
fn package_created_roundtrips() {
    roundtrip(Event::from(PackageEvent::PackageCreated(PackageCreated {
        package: package(),
    })));
}

#[test]
fn status_changed_roundtrips() {
    roundtrip(Event::from(PackageEvent::StatusChanged(StatusChanged {
        package_id: Uuid::new_v4(),
        tracking_number: tn(),
        previous: PackageStatus::Pending,
        status: PackageStatus::InTransit,
        location: Some("Newark".into()),
        coordinates: Some(Coordinates::new(0.0, 0.0).unwrap()),
        version: 2,
        seq: 2,
        changed_at: Utc::now(),
    })));
}

#[test]
fn command_rejected_roundtrips() {
    roundtrip(Event::from(PackageEvent::CommandRejected {
        tracking_number: tn(),
        reason: RejectReason::Conflict,
        message: "cannot change status from delivered to in_transit".into(),
    }));
}

#[test]
fn an_unknown_future_version_is_refused_with_a_clear_error() {
    let mut envelope = Envelope::new(
        Uuid::now_v7(),
        Utc::now(),
        Principal::default(),
        Event::from(PackageEvent::CommandRejected {
            tracking_number: tn(),
            reason: RejectReason::NotFound,
            message: "x".into(),
        }),
    );
    envelope.version = 2;
    let bytes = envelope.encode().unwrap();
    let err = Envelope::<Event>::decode(&bytes).unwrap_err();
    assert!(
        matches!(err, WireError::UnsupportedVersion { found: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("unsupported envelope version 2"));
}

#[test]
fn garbage_and_invalid_fields_are_errors_not_panics() {
    assert!(Envelope::<Command>::decode(b"").is_err());
    assert!(Envelope::<Command>::decode(b"\xff\x00garbage").is_err());
    // A well-formed envelope whose tracking number breaks the domain rules.
    let mut bytes = roundtrip(Command::UpdateStatus(UpdateStatus {
        tracking_number: tn(),
        status: PackageStatus::InTransit,
        location: None,
        coordinates: None,
    }))
    .encode()
    .unwrap();
    let pos = bytes
        .windows(12)
        .position(|w| w == b"TRK123456789")
        .unwrap();
    bytes[pos + 3] = b'.';
    assert!(matches!(
        Envelope::<Command>::decode(&bytes),
        Err(WireError::Decode(_))
    ));
}
