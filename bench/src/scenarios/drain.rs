//! `drain`: how fast the worker pools empty a backlog of location points
//! and status updates (judged against the MongoDB server's own `insert_many`
//! rate), and whether a steady single-point load keeps the location queue
//! bounded.

use super::locations::failures;
use super::Run;
use crate::load::Request;
use crate::report::{Row, Target};
use hyper::{Method, StatusCode};
use serde_json::json;
use shared::domain::{BoundedText, Coordinates, PackageStatus, TrackingNumber};
use shared::topology::Topology;
use shared::wire::{Command, Envelope, LocationBatch, LocationPoint, UpdateStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const PACKAGES: usize = 50;

pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let mut rows = backlog(run).await?;
    rows.extend(sustained(run).await?);
    Ok(rows)
}

/// A message ready for the broker: exchange, routing key, sealed payload.
pub(super) type Sealed = (String, String, Vec<u8>);

/// A backlog built straight on the broker (faster than any client could
/// post it, so the measurement is the pools', not ingest's): location
/// batches of 100 points and single status updates, then the time until the
/// stores hold them all.
pub(super) async fn backlog(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let name = "drain (backlog)";
    let commands = run.sizes.drain_backlog;
    let points = commands * 5;
    // The stand-in slows as the history grows: the baseline again, now, and
    // over as many documents as the backlog holds.
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let insert_many =
        crate::baselines::mongo_insert_many(run.system, &suffix, Duration::from_secs(300), points)
            .await?;
    let numbers = run.seed("DB", PACKAGES).await?;
    let (point_messages, sample) = point_batches(run, &numbers, points)?;
    let command_messages = status_updates(run, &numbers, commands)?;
    // One pool at a time: each measured against its own store, not against
    // the other pool for the two cores.
    let (points_stored, points_secs, points_all) =
        drain_points(run, &point_messages, &sample, &numbers, points).await?;
    let events_expected = commands + PACKAGES as u64;
    let began = Instant::now();
    publish_all(run, &command_messages).await?;
    let published_in = began.elapsed().as_secs_f64();
    let (events_all, events_stored, _) = run
        .system
        .wait_stored(events_expected, Duration::from_secs(900), || {
            run.system.stored_status_events(&numbers)
        })
        .await;
    let events_secs = began.elapsed().as_secs_f64();
    let not_all = |all: bool| if all { "" } else { " (NOT ALL)" };
    Ok(vec![
        Row::new(name, "points into the stores", points_stored as f64 / points_secs, "point/s")
            .baseline(&format!("MongoDB insert_many of {points}"), insert_many)
            .target(Target::RatioAtLeast(0.8))
            .note(format!(
                "{points} points in 100-point messages, stored {points_secs:.1} s after the first was published{}",
                not_all(points_all)
            )),
        Row::new(name, "package commands applied", (events_stored as f64 - PACKAGES as f64) / events_secs, "cmd/s")
            .target(Target::AtLeast(3000.0))
            .note(format!(
                "{commands} status updates (published in {published_in:.1} s), applied in {events_secs:.1} s{}",
                not_all(events_all)
            )),
    ])
}

/// Publishes the point batches and waits until the stores hold them:
/// timed until every sampled point is stored (the rest are in the same or
/// earlier insert commands), then counted exactly, untimed, for the loss
/// check; if any is still missing, waited for. Stored, seconds, all.
pub(super) async fn drain_points(
    run: &Run<'_>,
    messages: &[Sealed],
    sample: &[String],
    numbers: &[String],
    points: u64,
) -> anyhow::Result<(u64, f64, bool)> {
    let began = Instant::now();
    publish_all(run, messages).await?;
    let (mut all, mut stored, mut secs) = (false, 0, 0.0);
    let deadline = Duration::from_secs(900);
    while began.elapsed() < deadline && !all {
        let sample_len = sample.len() as u64;
        run.system
            .wait_stored(sample_len, deadline, || run.system.stored_of(sample))
            .await;
        secs = began.elapsed().as_secs_f64();
        stored = run.system.stored_points(numbers, points).await;
        all = stored >= points;
        if !all {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok((stored, secs, all))
}

/// The workers check every message's principal again: these come from a
/// dispatcher, as they would through the API.
pub(super) fn operator() -> shared::wire::Principal {
    shared::auth::Caller {
        user_id: Uuid::new_v4(),
        role: shared::auth::Role::Dispatcher,
        email: None,
        device_id: None,
        session_id: None,
    }
    .principal()
}

/// `points` points in batches of 100 over the packages, each fix at its own
/// time as a device's are; and every 100th point's id, watched while the
/// backlog drains.
fn point_batches(
    run: &Run<'_>,
    numbers: &[String],
    points: u64,
) -> anyhow::Result<(Vec<Sealed>, Vec<String>)> {
    let topology = &run.system.config.topology;
    let (now, coordinates, operator) = (
        chrono::Utc::now(),
        Coordinates::new(40.0, -74.0)?,
        operator(),
    );
    let (mut messages, mut sample) = (Vec::new(), Vec::new());
    for batch in 0..points.div_ceil(100) {
        let tn = TrackingNumber::parse(&numbers[batch as usize % numbers.len()])?;
        let points: Vec<LocationPoint> = (0..100)
            .map(|i| LocationPoint {
                point_id: Uuid::new_v4(),
                tracking_number: tn.clone(),
                coordinates,
                address: None,
                measurements: shared::locations::Measurements::default(),
                recorded_at: now - chrono::Duration::milliseconds(batch as i64 * 100 + i),
                received_at: now,
                source: None,
            })
            .collect();
        sample.push(points[(batch % 100) as usize].point_id.to_string());
        let envelope = Envelope::new(
            Uuid::now_v7(),
            now,
            operator.clone(),
            LocationBatch::new(points),
        );
        messages.push((
            topology.commands_exchange(),
            Topology::LOCATION_ROUTING_KEY.to_owned(),
            envelope.seal(&run.system.config.signing)?,
        ));
    }
    Ok((messages, sample))
}

/// `commands` status updates over the packages.
fn status_updates(run: &Run<'_>, numbers: &[String], commands: u64) -> anyhow::Result<Vec<Sealed>> {
    let topology = &run.system.config.topology;
    let operator = operator();
    (0..commands)
        .map(|i| {
            let tn = TrackingNumber::parse(&numbers[i as usize % numbers.len()])?;
            let key = topology.package_routing_key(tn.as_str(), "status");
            let command = Command::UpdateStatus(UpdateStatus {
                tracking_number: tn,
                status: PackageStatus::InTransit,
                location: BoundedText::parse(&format!("hub {i}"), 100).ok(),
                coordinates: None,
            });
            let envelope = Envelope::new(
                Uuid::now_v7(),
                chrono::Utc::now(),
                operator.clone(),
                command,
            );
            Ok((
                topology.commands_exchange(),
                key,
                envelope.seal(&run.system.config.signing)?,
            ))
        })
        .collect()
}

/// Publishes persistent messages with confirms, 1024 in flight.
pub(super) async fn publish_all(run: &Run<'_>, messages: &[Sealed]) -> anyhow::Result<()> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let channel = run.system.amqp.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let properties = lapin::BasicProperties::default().with_delivery_mode(2);
    let mut in_flight = FuturesUnordered::new();
    for (exchange, key, payload) in messages {
        if in_flight.len() >= 1024 {
            if let Some(confirm) = in_flight.next().await {
                let _: lapin::Result<_> = confirm;
            }
        }
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                payload,
                properties.clone(),
            )
            .await?;
        in_flight.push(confirm);
    }
    while let Some(confirm) = in_flight.next().await {
        confirm?;
    }
    let _ = channel.close(200, "backlog published".into()).await;
    Ok(())
}

async fn sustained(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let rate = run.sizes.sustained_rate;
    let name = format!("drain ({rate:.0} single points/s)");
    let numbers = Arc::new(run.seed("DS", PACKAGES).await?);
    let paths: Vec<String> = run.system.package_paths(&numbers, "/locations");
    let duration = run.sizes.sustained_for;
    let load = run
        .load(&name)
        .lasting(duration)
        .paced(rate)
        .expecting(StatusCode::ACCEPTED)
        .run(move |_, i| {
            let point = json!({"id": format!("r{i}"), "latitude": 41.0, "longitude": -73.0 + (i % 1000) as f64 / 1e4});
            Request::json(
                Method::POST,
                paths[i as usize % paths.len()].clone(),
                &point,
            )
        });
    let (posted, samples) = tokio::join!(load, location_backlog(run, duration));
    let third = (samples.len() / 3).max(1);
    let average = |part: &[u64]| part.iter().sum::<u64>() as f64 / part.len().max(1) as f64;
    let (first, last) = (
        average(&samples[..third.min(samples.len())]),
        average(&samples[samples.len().saturating_sub(third)..]),
    );
    let peak = samples.iter().copied().max().unwrap_or(0);
    let end = samples.last().copied().unwrap_or(0);
    Ok(vec![
        Row::new(&name, "points accepted", posted.per_second(1.0), "point/s")
            .latency(&posted.latency)
            .answers(&posted)
            .target(Target::AtLeast(rate * 0.98))
            .note(failures(&posted)),
        Row::new(&name, "location backlog at the end", end as f64, "msgs")
            .target(Target::AtMost(rate))
            .note(format!(
                "{:.0} s; backlog avg first third {first:.0}, last third {last:.0}, peak {peak}",
                duration.as_secs_f64()
            )),
        run.loss_check(&name, "points", posted.ok, || {
            run.system.stored_points(&numbers, posted.ok)
        })
        .await,
    ])
}

/// The location queues' depth (and their delay line's), once a second
/// for `duration`.
async fn location_backlog(run: &Run<'_>, duration: Duration) -> Vec<u64> {
    let topology = &run.system.config.topology;
    let (queue, retry) = (topology.locations_queue(), topology.location_retry_queue());
    let mut samples = Vec::new();
    let began = Instant::now();
    while began.elapsed() < duration {
        let depth = run.system.queue_depth(&queue).await + run.system.queue_depth(&retry).await;
        samples.push(depth);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    samples
}
