//! Connecting to RabbitMQ and publishing with publisher confirms (the
//! nodes to connect to: [`crate::brokers`]).

use crate::wire::{Envelope, WireError};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0:?}")]
    Unroutable(String),
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Encode(#[from] WireError),
}

pub use crate::brokers::connect;

/// Properties for a persistent MessagePack envelope. The trace context is
/// also an AMQP header, so tools that never decode the body (a tracing
/// proxy, the management UI) see it too.
pub fn envelope_properties<B>(envelope: &Envelope<B>, kind: &str) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/msgpack".into())
        .with_message_id(envelope.event_id.to_string().into())
        .with_type(kind.into())
        .with_timestamp(envelope.occurred_at.timestamp().max(0) as u64);
    match &envelope.trace.traceparent {
        Some(traceparent) => {
            let mut headers = FieldTable::default();
            headers.insert(
                "traceparent".into(),
                AMQPValue::LongString(traceparent.as_str().into()),
            );
            properties.with_headers(headers)
        }
        None => properties,
    }
}

/// Whether a message that no queue is bound for is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Commands and dead letters: unroutable means the topology is broken.
    Mandatory,
    /// Result events: nobody may be listening, and that is fine.
    BestEffort,
}

/// Publishes on a channel in confirm mode and waits for the broker's ack.
///
/// Many calls may run concurrently on one channel: each awaits its own confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    properties: BasicProperties,
    routing: Routing,
    timeout: Duration,
) -> Result<(), PublishError> {
    let confirm = async {
        let confirm = channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(routing_key),
                BasicPublishOptions {
                    mandatory: routing == Routing::Mandatory,
                    ..Default::default()
                },
                payload,
                properties,
            )
            .await?
            .await?;
        if confirm.is_nack() {
            return Err(PublishError::Nacked);
        }
        if confirm.take_message().is_some() {
            return Err(PublishError::Unroutable(routing_key.to_owned()));
        }
        Ok(())
    };
    tokio::time::timeout(timeout, confirm)
        .await
        .map_err(|_| PublishError::Timeout(timeout))?
}

/// Seals an envelope and publishes it, confirmed and persistent.
#[allow(clippy::too_many_arguments)]
pub async fn publish_envelope<B: Serialize>(
    channel: &Channel,
    keys: &crate::seal::SigningKeys,
    exchange: &str,
    routing_key: &str,
    envelope: &Envelope<B>,
    kind: &str,
    routing: Routing,
    timeout: Duration,
) -> Result<(), PublishError> {
    let payload = envelope.seal(keys)?;
    publish_confirmed(
        channel,
        exchange,
        routing_key,
        &payload,
        envelope_properties(envelope, kind),
        routing,
        timeout,
    )
    .await
}
