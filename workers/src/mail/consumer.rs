//! The mail queue's loop. Each delivery is opened (its seal verified),
//! rendered and handed to the transport, a few at a time, and then acked:
//! sent; or, when the server could not take it, published to the delay line
//! (`<prefix>.mail.retry`, [`shared::topology::MAIL_RETRY_DELAY_MS`]) with
//! its attempt count and tried again, until [`Mailer::max_attempts`]; or
//! dead-lettered with the reason when it can never be sent. Nothing sleeps
//! in the worker: the broker holds what waits.

use super::recipients::outgoing::{self, Prepared};
use super::render::render;
use super::transport::{SendError, Transport};
use crate::dead_letter::dead_letter_message;
use crate::publisher::Message;
use crate::runner::Runner;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::AMQPValue;
use lapin::Consumer;
use lettre::message::Mailbox;
use shared::wire::{Envelope, Mail, MailRequest};
use std::sync::Arc;

/// How long one mail may take to hand to the server.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The header counting a mail's tries.
pub const ATTEMPT_HEADER: &str = "x-delivertrack-attempt";
/// Set on an out-for-delivery mail that waited for an arrival estimate.
const ETA_WAITED_HEADER: &str = "x-delivertrack-eta-waited";

/// What the mail pool sends with, and how long it keeps trying.
pub struct Mailer {
    pub transport: Transport,
    pub from: Mailbox,
    /// `PUBLIC_URL`: the base of every link.
    pub public_url: String,
    /// Tries before a mail is dead-lettered (`MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Mails sent at once by one consumer.
    pub concurrency: usize,
    /// The recipient-mail ledger, asked just before a recipient mail goes
    /// (unsubscribed since it was queued? sent before? over the cap?).
    pub pool: sqlx::PgPool,
    /// Recipient mails one address gets in a day at most
    /// (`RECIPIENT_MAIL_DAILY_CAP`).
    pub recipient_daily_cap: u32,
    /// How long an out-for-delivery mail waits for an arrival estimate
    /// (`RECIPIENT_ETA_WAIT_S`).
    pub recipient_eta_wait: std::time::Duration,
}

/// Consumes until shutdown (Ok) or until the channel fails (Err).
pub async fn consume(
    pipeline: &Runner,
    mailer: &Mailer,
    queue: &str,
    mut consumer: Consumer,
) -> Result<(), lapin::Error> {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            _ = pipeline.stop.cancelled() => break,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                if let Some(delivery) = done {
                    ack(pipeline, &delivery).await?;
                }
            }
            next = consumer.next(), if in_flight.len() < mailer.concurrency.max(1) => {
                let delivery = match next {
                    Some(delivery) => delivery?,
                    None => break,
                };
                pipeline.metrics.consumed.with_label_values(&["mail"]).inc();
                in_flight.push(handle(pipeline, mailer, queue, delivery));
            }
        }
    }
    // What is under way finishes (or gives up on shutdown: unacked, the
    // broker redelivers it) before the channel closes.
    while let Some(done) = in_flight.next().await {
        if let Some(delivery) = done {
            if !pipeline.stop.is_cancelled() {
                ack(pipeline, &delivery).await?;
            }
        }
    }
    Ok(())
}

async fn ack(pipeline: &Runner, delivery: &Delivery) -> Result<(), lapin::Error> {
    delivery.ack(BasicAckOptions::default()).await?;
    pipeline.metrics.acked.with_label_values(&["mail"]).inc();
    Ok(())
}

/// Sends one mail; `Some(delivery)` when it is done with (sent, delayed or
/// dead-lettered, confirmed), `None` when shutdown came first.
async fn handle(
    pipeline: &Runner,
    mailer: &Mailer,
    queue: &str,
    delivery: Delivery,
) -> Option<Delivery> {
    let attempt = attempt_of(&delivery) + 1;
    let message = match send(pipeline, mailer, &delivery, attempt).await {
        Ok(Sent::Sent) => return Some(delivery),
        Ok(Sent::Held(wait)) => held(pipeline, &delivery, wait),
        Ok(Sent::AwaitEta(wait)) => awaiting_eta(pipeline, &delivery, wait),
        Err(SendError::Transient(_)) if attempt < mailer.max_attempts => {
            pipeline.metrics.retried.with_label_values(&["mail"]).inc();
            delayed(pipeline, &delivery, attempt)
        }
        Err(error) => {
            pipeline
                .metrics
                .dead_lettered
                .with_label_values(&["mail"])
                .inc();
            let reason = match error {
                SendError::Transient(why) => format!("gave up after {attempt} attempts: {why}"),
                SendError::Permanent(why) => why,
            };
            tracing::error!(queue, %reason, "dead-lettering a mail");
            dead_letter_message(
                &pipeline.topology.dead_exchange(),
                queue,
                &delivery,
                &reason,
            )
        }
    };
    pipeline
        .publisher
        .publish_committed(&[message], &pipeline.stop)
        .await
        .ok()
        .map(|()| delivery)
}

/// What became of a mail.
enum Sent {
    /// Sent, or not owed any more (unsubscribed, over its cap, sent before).
    Sent,
    /// Quiet hours in the recipient's time zone: it waits this much longer.
    Held(std::time::Duration),
    /// Out for delivery with no arrival estimate yet: it waits this long.
    AwaitEta(std::time::Duration),
}

/// Opens, renders and sends one mail (or holds it, in quiet hours).
async fn send(
    pipeline: &Runner,
    mailer: &Mailer,
    delivery: &Delivery,
    attempt: u32,
) -> Result<Sent, SendError> {
    let request = open(pipeline, delivery)?;
    let kind = request.body.mail.kind();
    let waited = delivery_flag(delivery, ETA_WAITED_HEADER);
    let (mail, claimed) = match prepare(pipeline, mailer, &request, waited).await? {
        Prepared::Send(mail, claimed) => (mail, claimed),
        Prepared::Held(wait) => return Ok(Sent::Held(wait)),
        Prepared::AwaitEta(wait) => return Ok(Sent::AwaitEta(wait)),
        Prepared::Skipped(reason) => {
            pipeline
                .metrics
                .mail_skipped
                .with_label_values(&[reason])
                .inc();
            return Ok(Sent::Sent);
        }
    };
    // Well inside the ledger's claim (2 minutes): a send that hangs is
    // given up before another sender may take the mail over.
    let sent = tokio::time::timeout(SEND_TIMEOUT, mailer.transport.send(&mailer.from, &mail))
        .await
        .unwrap_or_else(|_| Err(SendError::Transient("the mail server took too long".into())));
    if let Some(claimed) = &claimed {
        outgoing::finish(&mailer.pool, claimed, sent.is_ok()).await;
    }
    match &sent {
        Ok(()) => pipeline.metrics.mail_sent.with_label_values(&[kind]).inc(),
        Err(error) => tracing::warn!(%error, kind, attempt, "mail not sent"),
    }
    sent.map(|()| Sent::Sent)
}

/// The mail request a delivery carries, its seal verified.
fn open(pipeline: &Runner, delivery: &Delivery) -> Result<Envelope<MailRequest>, SendError> {
    let payload = pipeline.keys.open(&delivery.data).map_err(|refused| {
        pipeline
            .metrics
            .refused
            .with_label_values(&["mail", refused.label()])
            .inc();
        SendError::Permanent(refused.to_string())
    })?;
    Envelope::<MailRequest>::decode(payload)
        .map_err(|error| SendError::Permanent(error.to_string()))
}

/// An account mail is rendered as it is; a recipient notice goes through
/// its ledger first ([`outgoing`]).
async fn prepare(
    pipeline: &Runner,
    mailer: &Mailer,
    request: &Envelope<MailRequest>,
    waited_for_eta: bool,
) -> Result<Prepared, SendError> {
    let now = chrono::Utc::now();
    let Mail::RecipientNotice {
        tracking_number,
        notice,
        preferences,
        ..
    } = &request.body.mail
    else {
        let rendered = render(
            &request.body,
            &pipeline.keys,
            &mailer.public_url,
            shared::auth::token::now(),
        );
        return rendered
            .map(|mail| Prepared::Send(mail, None))
            .ok_or_else(|| SendError::Permanent("no account mail to render".into()));
    };
    let notice = outgoing::Notice {
        mail_id: request.event_id,
        queued_at: request.occurred_at,
        to: request.body.to.as_str(),
        tracking_number,
        notice: *notice,
        preferences,
        waited_for_eta,
    };
    let outbox = outgoing::Outbox {
        pool: &mailer.pool,
        daily_cap: mailer.recipient_daily_cap,
        public_url: &mailer.public_url,
        eta_wait: mailer.recipient_eta_wait,
    };
    outgoing::prepare(&outbox, &notice, now).await
}

/// The same mail onto the holding line, back in `wait` or half an hour,
/// whichever is sooner (then quiet hours are asked again): the line
/// expires only at its head, so no mail waits much longer than its own
/// end of quiet hours.
fn held(pipeline: &Runner, delivery: &Delivery, wait: std::time::Duration) -> Message {
    let back_in = Some((wait, shared::topology::MAIL_HOLD_MS));
    onto_line(delivery, pipeline.topology.mail_held_queue(), None, back_in)
}

/// The same mail onto the line where it waits for its package's first
/// arrival estimate, marked so it waits only once.
fn awaiting_eta(pipeline: &Runner, delivery: &Delivery, wait: std::time::Duration) -> Message {
    let waited = (ETA_WAITED_HEADER, AMQPValue::Boolean(true));
    let back_in = Some((wait, shared::topology::MAIL_ETA_WAIT_MAX_MS));
    onto_line(
        delivery,
        pipeline.topology.mail_eta_queue(),
        Some(waited),
        back_in,
    )
}

/// The same message, into the delay line, one attempt further.
fn delayed(pipeline: &Runner, delivery: &Delivery, attempt: u32) -> Message {
    let attempt = (ATTEMPT_HEADER, AMQPValue::LongUInt(attempt));
    onto_line(
        delivery,
        pipeline.topology.mail_retry_queue(),
        Some(attempt),
        None,
    )
}

/// The same mail onto one of the pool's delay lines (`queue`), with
/// `header` set, and back after its wait (at least 1 ms, at most the
/// line's own TTL) when `back_in` gives one.
fn onto_line(
    delivery: &Delivery,
    queue: String,
    header: Option<(&str, AMQPValue)>,
    back_in: Option<(std::time::Duration, i64)>,
) -> Message {
    let mut properties = delivery.properties.clone();
    if let Some((name, value)) = header {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(name.into(), value);
        properties = properties.with_headers(headers);
    }
    if let Some((wait, line_ms)) = back_in {
        let millis = wait
            .as_millis()
            .clamp(1, u128::from(line_ms.unsigned_abs()));
        properties = properties.with_expiration(millis.to_string().into());
    }
    Message {
        exchange: String::new(),
        routing_key: queue,
        payload: delivery.data.clone(),
        properties,
        routing: shared::amqp::Routing::Mandatory,
    }
}

/// Whether a header the pool set on a mail it sent round is there. Not
/// sealed: someone who can publish to the broker could set it, and skip
/// no more than the wait for an estimate.
fn delivery_flag(delivery: &Delivery, name: &str) -> bool {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name).cloned())
        .is_some_and(|value| matches!(value, AMQPValue::Boolean(true)))
}

fn attempt_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned())
        .and_then(|value| match value {
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            _ => None,
        })
        .unwrap_or(0)
}

/// Shared by every mail consumer of a process.
pub type SharedMailer = Arc<Mailer>;
