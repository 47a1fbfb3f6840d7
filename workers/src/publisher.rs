//! Everything the workers publish: result events, forwarded location points,
//! retries and dead letters on a channel in confirm mode; replies to waiting
//! ingest instances on a plain one.
//!
//! A channel the broker closed (a missing exchange, say) is replaced by a new
//! one on the same connection the next time it is needed, and the topology is
//! declared again on it, so one broker error does not stop the pool. Only a
//! lost connection ends a consumer (and the pool reconnects).

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection};
use shared::amqp::{PublishError, Routing};
use shared::backoff::{retry, Backoff, RetryError};
use shared::topology::{DeclareError, Topology};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One message to publish.
pub struct Message {
    pub exchange: String,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub properties: BasicProperties,
    pub routing: Routing,
}

/// Publishing stopped before every message was confirmed: on shutdown, or
/// because the broker connection is gone. The deliveries that caused the
/// messages stay unacked and come back.
#[derive(Debug, thiserror::Error)]
#[error("publishing abandoned (shutdown or connection lost)")]
pub struct Abandoned;

/// Why one round of publishing failed (it is tried again while the
/// connection lives).
#[derive(Debug, thiserror::Error)]
pub enum PublishFailed {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("cannot reopen the publishing channel: {0}")]
    Reopen(#[from] DeclareError),
}

pub struct Publisher {
    connection: Arc<Connection>,
    topology: Topology,
    confirm_timeout: Duration,
    /// The lock is only held to clone or swap a handle, never across an await.
    confirmed: Mutex<Channel>,
    plain: Mutex<Channel>,
}

impl Publisher {
    pub async fn open(
        connection: Arc<Connection>,
        topology: Topology,
        confirm_timeout: Duration,
    ) -> lapin::Result<Self> {
        let confirmed = connection.create_channel().await?;
        confirmed
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let plain = connection.create_channel().await?;
        Ok(Self {
            connection,
            topology,
            confirm_timeout,
            confirmed: Mutex::new(confirmed),
            plain: Mutex::new(plain),
        })
    }

    /// Publishes every message with confirms in flight together; Ok when the
    /// broker confirmed them all.
    pub async fn publish_all(&self, messages: &[Message]) -> Result<(), PublishFailed> {
        if messages.is_empty() {
            return Ok(());
        }
        let channel = self.confirm_channel().await?;
        let mut confirms = Vec::with_capacity(messages.len());
        for message in messages {
            let confirm = channel
                .basic_publish(
                    ShortString::from(message.exchange.as_str()),
                    ShortString::from(message.routing_key.as_str()),
                    BasicPublishOptions {
                        mandatory: message.routing == Routing::Mandatory,
                        ..Default::default()
                    },
                    &message.payload,
                    message.properties.clone(),
                )
                .await
                .map_err(PublishError::from)?;
            confirms.push(confirm);
        }
        let confirmations = tokio::time::timeout(
            self.confirm_timeout,
            futures_util::future::join_all(confirms),
        )
        .await
        .map_err(|_| PublishError::Timeout(self.confirm_timeout))?;
        for (message, confirmation) in messages.iter().zip(confirmations) {
            let confirmation = confirmation.map_err(PublishError::from)?;
            if confirmation.is_nack() {
                return Err(PublishError::Nacked.into());
            }
            if confirmation.take_message().is_some() {
                return Err(PublishError::Unroutable(message.routing_key.clone()).into());
            }
        }
        Ok(())
    }

    /// For what committed effects owe (events, forwarded points, dead
    /// letters): publishes until the broker confirmed every message, however
    /// long a broker alarm or a closed channel lasts. Never gives up while the
    /// connection lives; gives up on `stop`.
    pub async fn publish_committed(
        &self,
        messages: &[Message],
        stop: &CancellationToken,
    ) -> Result<(), Abandoned> {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        retry(
            backoff,
            stop,
            "publishing committed effects",
            || self.publish_all(messages),
            |_| self.connection.status().connected(),
        )
        .await
        .map_err(|error| {
            if let RetryError::Permanent(error) = error {
                tracing::warn!(%error, "broker connection lost while publishing");
            }
            Abandoned
        })
    }

    /// A reply to a waiting ingest instance: best effort, unconfirmed. A
    /// requester that has gone away is the broker's to drop; the command
    /// itself is applied either way.
    pub async fn reply(
        &self,
        reply_to: &ShortString,
        correlation_id: &ShortString,
        payload: &[u8],
    ) {
        let properties = BasicProperties::default()
            .with_correlation_id(correlation_id.clone())
            .with_content_type("application/msgpack".into());
        let sent = async {
            self.plain_channel()
                .await?
                .basic_publish(
                    "".into(),
                    reply_to.clone(),
                    BasicPublishOptions::default(),
                    payload,
                    properties,
                )
                .await
        }
        .await;
        if let Err(error) = sent {
            tracing::debug!(%error, "reply not sent");
        }
    }

    async fn confirm_channel(&self) -> Result<Channel, DeclareError> {
        let current = lock(&self.confirmed).clone();
        if current.status().connected() {
            return Ok(current);
        }
        tracing::warn!("publish channel closed by the broker; opening another");
        let fresh = self.connection.create_channel().await?;
        // What closed it may have been a missing exchange.
        self.topology.declare(&self.connection).await?;
        fresh
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *lock(&self.confirmed) = fresh.clone();
        Ok(fresh)
    }

    async fn plain_channel(&self) -> lapin::Result<Channel> {
        let current = lock(&self.plain).clone();
        if current.status().connected() {
            return Ok(current);
        }
        let fresh = self.connection.create_channel().await?;
        *lock(&self.plain) = fresh.clone();
        Ok(fresh)
    }
}

fn lock(channel: &Mutex<Channel>) -> std::sync::MutexGuard<'_, Channel> {
    // A poisoned lock still holds a valid handle: nothing panics while holding it.
    channel.lock().unwrap_or_else(|e| e.into_inner())
}

/// The message for an envelope, sealed and persistent, as every service
/// publishes them.
pub fn envelope_message<B: serde::Serialize>(
    keys: &shared::wire::SigningKeys,
    exchange: String,
    routing_key: String,
    envelope: &shared::wire::Envelope<B>,
    kind: &str,
    routing: Routing,
) -> Result<Message, shared::wire::WireError> {
    Ok(Message {
        exchange,
        routing_key,
        payload: envelope.seal(keys)?,
        properties: shared::amqp::envelope_properties(envelope, kind),
        routing,
    })
}
