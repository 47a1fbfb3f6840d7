//! `signing`: what sealing and opening a message costs (HMAC-SHA256 over
//! the encoded envelope, `shared::wire::seal`), against encoding and
//! decoding alone, for a status update and a 100-point location batch.
//! CPU only, in this process.

use crate::report::{Row, Target};
use shared::domain::{BoundedText, Coordinates, PackageStatus, TrackingNumber};
use shared::wire::{Command, Envelope, LocationBatch, LocationPoint, SigningKeys, UpdateStatus};
use std::time::Instant;

const ROUNDS: u32 = 20_000;

fn envelopes() -> anyhow::Result<(Envelope<Command>, Envelope<LocationBatch>)> {
    let principal = shared::auth::Caller {
        user_id: uuid::Uuid::new_v4(),
        role: shared::auth::Role::Dispatcher,
        email: None,
        device_id: None,
        session_id: None,
    }
    .principal();
    let tn = TrackingNumber::parse("TRK123456789")?;
    let now = chrono::Utc::now();
    let status = Envelope::new(
        uuid::Uuid::now_v7(),
        now,
        principal.clone(),
        Command::UpdateStatus(UpdateStatus {
            tracking_number: tn.clone(),
            status: PackageStatus::InTransit,
            location: BoundedText::parse("Newark Distribution Center", 500).ok(),
            coordinates: Coordinates::new(40.7357, -74.1724).ok(),
        }),
    );
    let points = (0..100)
        .map(|i| LocationPoint {
            point_id: uuid::Uuid::new_v4(),
            tracking_number: tn.clone(),
            coordinates: Coordinates::new(40.0 + f64::from(i) / 1000.0, -74.0).expect("valid"),
            address: None,
            measurements: shared::locations::Measurements {
                accuracy_m: Some(5.0),
                speed_mps: Some(10.0),
                ..shared::locations::Measurements::default()
            },
            recorded_at: now,
            received_at: now,
            source: None,
        })
        .collect();
    let batch = Envelope::new(
        uuid::Uuid::now_v7(),
        now,
        principal,
        LocationBatch::new(points),
    );
    Ok((status, batch))
}

/// Microseconds per round of `work`.
fn per_round(mut work: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        work();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

fn measure<B>(name: &str, envelope: &Envelope<B>, keys: &SigningKeys) -> anyhow::Result<Vec<Row>>
where
    B: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = envelope.encode()?.len();
    let plain = per_round(|| {
        let encoded = envelope.encode().unwrap_or_default();
        let _ = Envelope::<B>::decode(&encoded);
    });
    let sealed = per_round(|| {
        let frame = envelope.seal(keys).unwrap_or_default();
        let _ = Envelope::<B>::open(&frame, keys);
    });
    let scenario = format!("signing ({name}, {bytes} B)");
    Ok(vec![Row::new(
        &scenario,
        "seal + open, per message",
        sealed,
        "µs",
    )
    .baseline("encode + decode alone", plain)
    .target(Target::AtMost(plain * 2.0 + 5.0))
    .note(format!(
        "the seal adds {:.2} µs ({:.0}% of the round trip); 37 bytes per message",
        sealed - plain,
        (sealed - plain) / sealed * 100.0
    ))])
}

pub fn run() -> anyhow::Result<Vec<Row>> {
    let keys = SigningKeys::new("1", b"a benchmark signing key, 32 bytes!", None);
    let (status, batch) = envelopes()?;
    let mut rows = measure("status update", &status, &keys)?;
    rows.extend(measure("100-point batch", &batch, &keys)?);
    Ok(rows)
}
