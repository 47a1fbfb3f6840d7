//! Messages that can never succeed (undecodable, permanently invalid) are
//! republished to the dead-letter exchange with the reason, then acked.

use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::Channel;
use shared::amqp::{publish_confirmed, PublishError, Routing};
use std::time::Duration;

pub const REASON_HEADER: &str = "x-delivertrack-reason";
pub const ORIGINAL_QUEUE_HEADER: &str = "x-delivertrack-queue";

pub async fn dead_letter(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    delivery: &Delivery,
    reason: &str,
    timeout: Duration,
) -> Result<(), PublishError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    headers.insert(
        ORIGINAL_QUEUE_HEADER.into(),
        AMQPValue::LongString(queue.into()),
    );
    headers.insert(
        "x-delivertrack-routing-key".into(),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    let properties = delivery
        .properties
        .clone()
        .with_headers(FieldTable::from(headers))
        .with_delivery_mode(2);
    let routing_key = ShortString::from(queue);
    publish_confirmed(
        channel,
        exchange,
        routing_key.as_str(),
        &delivery.data,
        properties,
        Routing::Mandatory,
        timeout,
    )
    .await
}

/// Reads the reason header of a dead-lettered message (for tests and tooling).
pub fn reason_of(delivery: &Delivery) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(REASON_HEADER)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}
