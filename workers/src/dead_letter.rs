//! Messages that can never succeed (undecodable, permanently invalid, naming
//! an unknown package) are republished to the dead-letter exchange with the
//! reason, then acked.

use lapin::message::Delivery;
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel};
use shared::amqp::{publish_confirmed, PublishError, Routing};
use std::time::Duration;

pub const REASON_HEADER: &str = "x-delivertrack-reason";
pub const ORIGINAL_QUEUE_HEADER: &str = "x-delivertrack-queue";

/// Dead-letters a delivery as it came.
pub async fn dead_letter(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    delivery: &Delivery,
    reason: &str,
    timeout: Duration,
) -> Result<(), PublishError> {
    let mut properties = delivery.properties.clone();
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        "x-delivertrack-routing-key".into(),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    properties = properties.with_headers(headers);
    publish_dead(
        channel,
        exchange,
        queue,
        &delivery.data,
        properties,
        reason,
        timeout,
    )
    .await
}

/// Publishes `payload` to the dead-letter exchange with the reason and the
/// queue it came from in its headers.
pub async fn publish_dead(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    payload: &[u8],
    properties: BasicProperties,
    reason: &str,
    timeout: Duration,
) -> Result<(), PublishError> {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    headers.insert(
        ORIGINAL_QUEUE_HEADER.into(),
        AMQPValue::LongString(queue.into()),
    );
    let properties = properties.with_headers(headers).with_delivery_mode(2);
    publish_confirmed(
        channel,
        exchange,
        queue,
        payload,
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
