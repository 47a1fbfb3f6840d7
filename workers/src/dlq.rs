//! The operator's view of the dead-letter queue: list what is there and why,
//! and re-drive messages to where they were going once the cause is fixed
//! (`workers dlq list`, `workers dlq redrive --all|ID`).
//!
//! A re-driven message is applied once: commands and points are idempotent
//! by id, so a re-drive interrupted between publishing and acking the dead
//! letter changes nothing when repeated.

use crate::dead_letter::{
    destination_of, queue_of, reason_of, EXCHANGE_HEADER, ORIGINAL_QUEUE_HEADER, REASON_HEADER,
    ROUTING_KEY_HEADER,
};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use shared::amqp::{publish_confirmed, PublishError, Routing};
use shared::topology::Topology;
use std::time::Duration;
use uuid::Uuid;

/// How long to wait for the next dead letter before the queue counts as read.
const QUIET: Duration = Duration::from_millis(500);
const NAMESPACE: Uuid = Uuid::from_u128(0x9a0e_57b2_3c41_4d6e_b1f0_2e8c_7d45_a613);

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("re-drive not confirmed: {0}")]
    Publish(#[from] PublishError),
}

/// One dead letter, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id (a command's event id), or a digest of its bytes.
    pub id: String,
    pub reason: String,
    /// The queue it was taken from.
    pub queue: String,
    /// Where a re-drive sends it: (exchange, routing key).
    pub destination: Option<(String, String)>,
    pub bytes: usize,
}

impl DeadLetter {
    fn of(delivery: &Delivery) -> Self {
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| Uuid::new_v5(&NAMESPACE, &delivery.data).to_string());
        Self {
            id,
            reason: reason_of(delivery)
                .or_else(|| broker_reason(delivery))
                .unwrap_or_else(|| "unknown".into()),
            queue: queue_of(delivery)
                .or_else(|| first_death(delivery, "x-first-death-queue"))
                .unwrap_or_default(),
            destination: destination_of(delivery).or_else(|| broker_destination(delivery)),
            bytes: delivery.data.len(),
        }
    }
}

/// Which dead letters to re-drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Id(String),
}

/// Lists up to `limit` dead letters, leaving them in the queue.
pub async fn list(
    brokers: &shared::brokers::Brokers,
    topology: &Topology,
    limit: u16,
) -> Result<Vec<DeadLetter>, DlqError> {
    let connection = brokers.connect("delivertrack-dlq").await?;
    let listed = async {
        let (_channel, mut consumer) = open(&connection, topology, limit).await?;
        let mut found = Vec::new();
        while found.len() < usize::from(limit) {
            match tokio::time::timeout(QUIET, consumer.next()).await {
                Ok(Some(delivery)) => found.push(DeadLetter::of(&delivery?)),
                _ => break,
            }
        }
        Ok(found)
    }
    .await;
    // Closing without acks puts every listed message back.
    let _ = connection.close(200, "dlq listed".into()).await;
    listed
}

/// Re-drives the selected dead letters to where they were going; returns how
/// many. Each is acked only after its re-drive is confirmed.
pub async fn redrive(
    brokers: &shared::brokers::Brokers,
    topology: &Topology,
    selection: &Selection,
) -> Result<usize, DlqError> {
    let connection = brokers.connect("delivertrack-dlq").await?;
    let result = async {
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let (_channel, mut consumer) = open(&connection, topology, 256).await?;
        let mut redriven = 0;
        while let Ok(Some(delivery)) = tokio::time::timeout(QUIET, consumer.next()).await {
            let delivery = delivery?;
            let letter = DeadLetter::of(&delivery);
            let wanted = match selection {
                Selection::All => true,
                Selection::Id(id) => letter.id == *id,
            };
            let Some((exchange, routing_key)) = letter.destination.clone().filter(|_| wanted)
            else {
                continue; // left unacked: back in the queue when we close
            };
            publish_confirmed(
                &publish,
                &exchange,
                &routing_key,
                &delivery.data,
                without_dead_letter_headers(&delivery.properties),
                Routing::Mandatory,
                Duration::from_secs(5),
            )
            .await?;
            delivery.ack(BasicAckOptions::default()).await?;
            tracing::info!(id = %letter.id, %exchange, %routing_key, "re-driven");
            redriven += 1;
        }
        Ok(redriven)
    }
    .await;
    let _ = connection.close(200, "dlq re-driven".into()).await;
    result
}

async fn open(
    connection: &Connection,
    topology: &Topology,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .queue_declare(
            topology.dead_queue().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            topology.dead_queue().into(),
            "delivertrack-dlq".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// The message as it was before it died: our headers and the broker's
/// death records removed.
fn without_dead_letter_headers(properties: &BasicProperties) -> BasicProperties {
    let dead = [
        REASON_HEADER,
        ORIGINAL_QUEUE_HEADER,
        EXCHANGE_HEADER,
        ROUTING_KEY_HEADER,
    ];
    let headers: std::collections::BTreeMap<_, _> = properties
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(k, _)| {
                    !dead.contains(&k.as_str())
                        && !k.as_str().starts_with("x-death")
                        && !k.as_str().starts_with("x-first-death")
                        && !k.as_str().starts_with("x-last-death")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    properties.clone().with_headers(FieldTable::from(headers))
}

fn first_death(delivery: &Delivery, header: &str) -> Option<String> {
    match delivery
        .properties
        .headers()
        .as_ref()?
        .inner()
        .get(header)?
    {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A message the broker itself dead-lettered (the delivery limit): its reason.
fn broker_reason(delivery: &Delivery) -> Option<String> {
    first_death(delivery, "x-first-death-reason").map(|reason| format!("broker: {reason}"))
}

/// Where a message the broker dead-lettered was going: the first death's
/// exchange and routing key.
fn broker_destination(delivery: &Delivery) -> Option<(String, String)> {
    let headers = delivery.properties.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(death) = deaths.as_slice().last()? else {
        return None;
    };
    let text = |key: &str| match death.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    };
    let routing_key = match death.inner().get("routing-keys")? {
        AMQPValue::FieldArray(keys) => match keys.as_slice().first()? {
            AMQPValue::LongString(s) => s.to_string(),
            _ => return None,
        },
        _ => return None,
    };
    Some((text("exchange")?, routing_key))
}
