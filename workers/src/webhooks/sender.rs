//! The sender: one attempt per send request from `<prefix>.webhooks.send`,
//! a few at a time, each acked once what it owes is confirmed.
//!
//! claim (the delivery is pending, or redelivered on purpose; no other
//! attempt holds its lease) → POST the stored bytes, signed now → record
//! the attempt → delivered; or the next attempt onto a delay line; or
//! given up after `WEBHOOK_RETRY_FOR_S`. An endpoint failing for
//! `WEBHOOK_DISABLE_AFTER_S` is disabled and its owner mailed.
//!
//! A worker killed during an attempt leaves the request unacked: the
//! broker hands it to another worker, which waits out the lease (a
//! request that finds the lease held goes round the shortest delay line)
//! and makes the next attempt. Nothing is attempted after a 2xx except on
//! an explicit redeliver: the claim requires `pending`.

use super::client::Answer;
use super::disable;
use super::fanout::send_message;
use super::ledger::{self, Claim, Claimed};
use super::limits::PLACE_WAIT;
use super::schedule;
use super::Pool;
use crate::publisher::Message;
use crate::runner::Runner;
use chrono::Utc;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::Consumer;
use shared::amqp::Routing;
use shared::webhooks::secret::{signature_header, SIGNATURE_HEADER};
use shared::webhooks::view::WebhookView;
use shared::webhooks::SendRequest;
use shared::wire::{Envelope, Mail, MailRequest, Principal};
use std::time::Duration;
use uuid::Uuid;

/// Consumes until shutdown (Ok) or until the channel fails (Err).
pub async fn consume(
    runner: &Runner,
    pool: &Pool,
    queue: &str,
    mut consumer: Consumer,
) -> Result<(), lapin::Error> {
    let mut in_flight = FuturesUnordered::new();
    let concurrency = usize::from(pool.settings.concurrency.max(1));
    loop {
        tokio::select! {
            biased;
            _ = runner.stop.cancelled() => break,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                if let Some(delivery) = done {
                    ack(runner, &delivery).await?;
                }
            }
            next = consumer.next(), if in_flight.len() < concurrency => {
                let delivery = match next {
                    Some(delivery) => delivery?,
                    None => break,
                };
                runner.metrics.consumed.with_label_values(&["webhooks"]).inc();
                in_flight.push(handle(runner, pool, queue, delivery));
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        if let Some(delivery) = done {
            if !runner.stop.is_cancelled() {
                ack(runner, &delivery).await?;
            }
        }
    }
    Ok(())
}

async fn ack(runner: &Runner, delivery: &Delivery) -> Result<(), lapin::Error> {
    delivery.ack(BasicAckOptions::default()).await?;
    runner.metrics.acked.with_label_values(&["webhooks"]).inc();
    Ok(())
}

/// One request; `Some(delivery)` once it is done with (what it owes
/// confirmed), `None` when shutdown came first (unacked: it comes back).
async fn handle(runner: &Runner, pool: &Pool, queue: &str, delivery: Delivery) -> Option<Delivery> {
    let messages = match runner
        .keys
        .open(&delivery.data)
        .map_err(|refused| {
            runner
                .metrics
                .refused
                .with_label_values(&["webhooks", refused.label()])
                .inc();
            shared::wire::WireError::from(refused)
        })
        .and_then(Envelope::<SendRequest>::decode)
    {
        Ok(request) => loop {
            match attempt(runner, pool, &delivery, &request.body).await {
                Ok(messages) => break messages,
                Err(error) => {
                    tracing::warn!(%error, "a webhook attempt could not be recorded; retrying");
                    tokio::select! {
                        _ = runner.stop.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        },
        Err(error) => vec![runner.dead_letter(queue, &delivery, &error.to_string())],
    };
    runner
        .publisher
        .publish_committed(&messages, &runner.stop)
        .await
        .ok()
        .map(|()| delivery)
}

/// Makes the attempt the request asks for, if it is still owed; the
/// messages that must be confirmed before the request is acked.
async fn attempt(
    runner: &Runner,
    pool: &Pool,
    delivery: &Delivery,
    request: &SendRequest,
) -> Result<Vec<Message>, sqlx::Error> {
    let place = pool.limits.take_within(request.webhook_id, PLACE_WAIT);
    let Some(_permit) = place.await else {
        return Ok(vec![go_round(runner, delivery)]);
    };
    let Some(webhook) = WebhookView::load(&pool.db, request.webhook_id).await? else {
        return Ok(Vec::new()); // deleted: its deliveries went with it
    };
    let asked = request.courier || request.redeliver;
    let owed = !asked || pool.endpoints.may_receive(request.delivery_id).await?;
    if !owed || ((webhook.paused || webhook.disabled_at.is_some()) && !request.redeliver) {
        ledger::end(&pool.db, request.delivery_id, "cancelled").await?;
        return Ok(Vec::new());
    }
    let lease = pool.settings.timeout + Duration::from_secs(5);
    let claimed =
        match ledger::claim(&pool.db, request.delivery_id, request.redeliver, lease).await? {
            Claim::Claimed(claimed) => claimed,
            Claim::Held => return Ok(vec![go_round(runner, delivery)]),
            Claim::Done => return Ok(Vec::new()),
        };
    let answer = call(pool, &webhook, request, &claimed).await;
    let outcome = if answer.succeeded() {
        "success"
    } else {
        "failure"
    };
    runner
        .metrics
        .webhook_attempts
        .with_label_values(&[outcome])
        .inc();
    if answer.succeeded() {
        let attempt = (request.delivery_id, claimed.attempts);
        ledger::delivered(&pool.db, attempt, request.webhook_id, &answer).await?;
        return Ok(Vec::new());
    }
    ledger::record(&pool.db, request.delivery_id, claimed.attempts, &answer).await?;
    failed(runner, pool, request, &claimed).await
}

/// Signs the stored bytes now and POSTs them.
async fn call(
    pool: &Pool,
    webhook: &WebhookView,
    request: &SendRequest,
    claimed: &Claimed,
) -> Answer {
    let now = Utc::now();
    let secrets: Vec<String> = webhook
        .signing_versions(now)
        .into_iter()
        .map(|version| pool.secrets.secret(webhook.id, version))
        .collect();
    let headers = vec![
        (
            SIGNATURE_HEADER,
            signature_header(&secrets, now.timestamp(), &claimed.body),
        ),
        ("x-delivertrack-event-id", claimed.event_id.to_string()),
        (
            "x-delivertrack-delivery-id",
            request.delivery_id.to_string(),
        ),
        ("x-delivertrack-attempt", claimed.attempts.to_string()),
    ];
    pool.caller
        .post(
            &webhook.url,
            headers,
            bytes::Bytes::from(claimed.body.clone()),
        )
        .await
}

/// After a failed attempt: the endpoint's failing streak (disabled, its
/// owner mailed, once it lasted too long), and the next attempt (none for
/// a redeliver, or once the delivery is too old).
async fn failed(
    runner: &Runner,
    pool: &Pool,
    request: &SendRequest,
    claimed: &Claimed,
) -> Result<Vec<Message>, sqlx::Error> {
    ledger::release(&pool.db, request.delivery_id).await?;
    if let Some(email) =
        disable::failed(&pool.db, request.webhook_id, pool.settings.disable_after).await?
    {
        // Disabled: this delivery ends here, like those that come back later.
        ledger::end(&pool.db, request.delivery_id, "cancelled").await?;
        return Ok(disabled_mail(runner, request.webhook_id, &email)
            .into_iter()
            .collect());
    }
    if request.redeliver {
        return Ok(Vec::new());
    }
    let age = (Utc::now() - claimed.created_at)
        .to_std()
        .unwrap_or_default();
    if age >= pool.settings.retry_for {
        ledger::end(&pool.db, request.delivery_id, "failed").await?;
        return Ok(Vec::new());
    }
    let delay = schedule::backoff(
        pool.settings.retry_first,
        Duration::from_secs(6 * 3600),
        u32::try_from(claimed.attempts).unwrap_or(1),
        schedule::jitter(),
    );
    Ok(send_message(runner, request)
        .map_err(|error| tracing::error!(%error, "cannot encode a send request"))
        .map(|message| delayed(runner, message, delay))
        .into_iter()
        .collect())
}

/// The mail telling an endpoint's owner it was disabled.
fn disabled_mail(runner: &Runner, webhook_id: Uuid, email: &str) -> Option<Message> {
    let to = shared::domain::Email::parse(email).ok()?;
    let mail = Envelope::new(
        Uuid::new_v5(&webhook_id, b"disabled"),
        Utc::now(),
        Principal::default(),
        MailRequest {
            to,
            mail: Mail::WebhookDisabled { webhook_id },
        },
    );
    runner
        .mail_message(&mail)
        .map_err(|error| tracing::error!(%error, "cannot encode a mail request"))
        .ok()
}

/// `message`, onto the delay line that holds `delay`, expiring after it.
fn delayed(runner: &Runner, mut message: Message, delay: Duration) -> Message {
    let rungs = shared::topology::WEBHOOK_RETRY_RUNGS_S;
    let rung = rungs[schedule::rung(&rungs, delay)];
    let millis = delay.as_millis().max(1).min(u128::from(rung) * 1000);
    message.exchange = String::new();
    message.routing_key = runner.topology.webhook_retry_queue(rung);
    message.properties = message
        .properties
        .with_expiration(millis.to_string().into());
    message.routing = Routing::Mandatory;
    message
}

/// The same request once round the shortest delay line: its endpoint is
/// busy in this worker, or another attempt holds the delivery.
fn go_round(runner: &Runner, delivery: &Delivery) -> Message {
    let rung = shared::topology::WEBHOOK_RETRY_RUNGS_S[0];
    Message {
        exchange: String::new(),
        routing_key: runner.topology.webhook_retry_queue(rung),
        payload: delivery.data.clone(),
        properties: delivery.properties.clone(),
        routing: Routing::Mandatory,
    }
}
