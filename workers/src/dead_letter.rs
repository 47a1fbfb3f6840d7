//! Messages that can never succeed (undecodable, permanently invalid, naming
//! a package that never came) are republished to the dead-letter exchange with
//! the reason, then acked. `workers dlq` lists and re-drives them.

use crate::publisher::Message;
use lapin::message::Delivery;
use lapin::types::AMQPValue;
use shared::amqp::Routing;

pub const REASON_HEADER: &str = "x-delivertrack-reason";
pub const ORIGINAL_QUEUE_HEADER: &str = "x-delivertrack-queue";
pub const ROUTING_KEY_HEADER: &str = "x-delivertrack-routing-key";
pub const EXCHANGE_HEADER: &str = "x-delivertrack-exchange";

/// A dead letter for a delivery as it came.
pub fn dead_letter_message(
    exchange: &str,
    queue: &str,
    delivery: &Delivery,
    reason: &str,
) -> Message {
    let message = Message {
        exchange: delivery.exchange.to_string(),
        routing_key: delivery.routing_key.to_string(),
        payload: delivery.data.clone(),
        properties: delivery.properties.clone(),
        routing: Routing::Mandatory,
    };
    to_dead_letter(message, exchange, queue, reason)
}

/// Turns a message into a dead letter: the same payload and properties, with
/// the reason and where it was going in its headers, so it can be re-driven.
pub fn to_dead_letter(message: Message, exchange: &str, queue: &str, reason: &str) -> Message {
    let mut headers = message.properties.headers().clone().unwrap_or_default();
    let mut text = |name: &str, value: &str| {
        headers.insert(name.into(), AMQPValue::LongString(value.into()));
    };
    text(REASON_HEADER, reason);
    text(ORIGINAL_QUEUE_HEADER, queue);
    text(EXCHANGE_HEADER, &message.exchange);
    text(ROUTING_KEY_HEADER, &message.routing_key);
    Message {
        exchange: exchange.to_owned(),
        routing_key: queue.to_owned(),
        payload: message.payload,
        properties: message
            .properties
            .with_headers(headers)
            .with_delivery_mode(2),
        routing: Routing::Mandatory,
    }
}

fn header(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The reason header of a dead-lettered message.
pub fn reason_of(delivery: &Delivery) -> Option<String> {
    header(delivery, REASON_HEADER)
}

/// Where a dead letter was going: (exchange, routing key), if recorded.
pub fn destination_of(delivery: &Delivery) -> Option<(String, String)> {
    Some((
        header(delivery, EXCHANGE_HEADER)?,
        header(delivery, ROUTING_KEY_HEADER)?,
    ))
}

/// The queue a dead letter came from.
pub fn queue_of(delivery: &Delivery) -> Option<String> {
    header(delivery, ORIGINAL_QUEUE_HEADER)
}
