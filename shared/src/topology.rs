//! Broker names and routing, and their idempotent declaration.
//!
//! ```text
//! <prefix>.commands (topic) ── package.<shard>.<kind> ──▶ <prefix>.packages.<shard>   (quorum, single active consumer)
//!                           ── location.record ─────────▶ <prefix>.locations          (quorum, competing consumers)
//!                           ── mail.send ───────────────▶ <prefix>.mail               (quorum, competing consumers)
//! <prefix>.events   (topic) ── package.<tracking_number>.<kind> ──▶ broadcasters, tests
//! <prefix>.dead     (fanout) ─────────────────────────────▶ <prefix>.dead              (quorum)
//! (default exchange) ─────────────────────────────────────▶ <prefix>.locations.retry  (quorum, TTL)
//!                        └── expired: location.record ──▶ <prefix>.commands
//! (default exchange) ─────────────────────────────────────▶ <prefix>.mail.retry       (quorum, TTL)
//!                        └── expired: mail.send ─────────▶ <prefix>.commands
//! ```
//!
//! `<prefix>.topology` is an empty marker queue that records the shard count
//! (as its `x-max-length`: the broker refuses to redeclare a queue with
//! another value, atomically, whoever comes first). A process configured
//! with another `PACKAGE_SHARDS` would publish or consume a package's
//! commands on the wrong queue and break their order, so it stops instead.
//!
//! The retry queue is a delay line: location points that name a package not
//! created yet (its create travels another queue) wait there
//! [`LOCATION_RETRY_DELAY_MS`] and return to the locations queue, with
//! at-least-once dead-lettering so nothing is lost on the way.
//!
//! Per-package ordering: ingest hashes the tracking number onto one of N shard
//! queues; each shard queue has a single active consumer, so one package's
//! commands are applied in the order ingest published them, while the N shards
//! spread over the running workers. The prefix lets tests (and several
//! deployments on one broker) keep their own names.

use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// How many times a quorum queue redelivers a message before dead-lettering it.
/// Workers retry transient failures in-process, so a message only reaches this
/// limit when it crashes workers over and over.
pub const DELIVERY_LIMIT: i64 = 20;

/// How long points for an unknown package wait before they are tried again.
pub const LOCATION_RETRY_DELAY_MS: i64 = 1000;

/// How long a mail the SMTP server did not take waits before the next try.
pub const MAIL_RETRY_DELAY_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum DeclareError {
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    #[error("PACKAGE_SHARDS={configured} disagrees with the broker, where {prefix:?} was declared with {recorded} package shards: every ingest and worker must use the same count (see docs/OPERATIONS.md, \"Changing PACKAGE_SHARDS\")")]
    ShardsMismatch {
        configured: u16,
        recorded: String,
        prefix: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    package_shards: u16,
}

impl Topology {
    pub fn new(prefix: impl Into<String>, package_shards: u16) -> Self {
        Self {
            prefix: prefix.into(),
            package_shards: package_shards.max(1),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn package_shards(&self) -> u16 {
        self.package_shards
    }

    pub fn commands_exchange(&self) -> String {
        format!("{}.commands", self.prefix)
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The marker queue recording the shard count.
    pub fn marker_queue(&self) -> String {
        format!("{}.topology", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn locations_queue(&self) -> String {
        format!("{}.locations", self.prefix)
    }

    pub fn location_retry_queue(&self) -> String {
        format!("{}.locations.retry", self.prefix)
    }

    pub const LOCATION_ROUTING_KEY: &'static str = "location.record";
    pub const LOCATION_BINDING_KEY: &'static str = "location.*";

    pub fn mail_queue(&self) -> String {
        format!("{}.mail", self.prefix)
    }

    pub fn mail_retry_queue(&self) -> String {
        format!("{}.mail.retry", self.prefix)
    }

    pub const MAIL_ROUTING_KEY: &'static str = "mail.send";
    pub const MAIL_BINDING_KEY: &'static str = "mail.*";

    pub fn package_queue(&self, shard: u16) -> String {
        format!("{}.packages.{shard}", self.prefix)
    }

    /// The shard a tracking number's commands go to. FNV-1a: stable across
    /// builds and platforms, unlike `std`'s randomly seeded hasher.
    pub fn shard_of(&self, tracking_number: &str) -> u16 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in tracking_number.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % u64::from(self.package_shards)) as u16
    }

    pub fn package_routing_key(&self, tracking_number: &str, kind: &str) -> String {
        format!("package.{}.{kind}", self.shard_of(tracking_number))
    }

    pub fn event_routing_key(tracking_number: &str, kind: &str) -> String {
        format!("package.{tracking_number}.{kind}")
    }

    /// Declares every exchange and queue, after checking that the broker's
    /// shard count is this one's. Safe to run from many instances at once.
    pub async fn declare(&self, channel: &Channel) -> Result<(), DeclareError> {
        self.record_shards(channel).await?;
        self.declare_events(channel).await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.commands_exchange().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_exchange().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;

        let queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(self.dead_queue().into(), queue, self.dead_queue_arguments())
            .await?;
        channel
            .queue_bind(
                self.dead_queue().into(),
                self.dead_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        channel
            .queue_declare(
                self.locations_queue().into(),
                queue,
                self.locations_queue_arguments(),
            )
            .await?;
        channel
            .queue_bind(
                self.locations_queue().into(),
                self.commands_exchange().into(),
                Self::LOCATION_BINDING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        channel
            .queue_declare(
                self.location_retry_queue().into(),
                queue,
                self.location_retry_queue_arguments(),
            )
            .await?;

        channel
            .queue_declare(
                self.mail_queue().into(),
                queue,
                self.locations_queue_arguments(),
            )
            .await?;
        channel
            .queue_bind(
                self.mail_queue().into(),
                self.commands_exchange().into(),
                Self::MAIL_BINDING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                self.mail_retry_queue().into(),
                queue,
                self.retry_queue_arguments(MAIL_RETRY_DELAY_MS, Self::MAIL_ROUTING_KEY),
            )
            .await?;

        for shard in 0..self.package_shards {
            let name = self.package_queue(shard);
            channel
                .queue_declare(name.clone().into(), queue, self.work_queue_arguments())
                .await?;
            channel
                .queue_bind(
                    name.into(),
                    self.commands_exchange().into(),
                    Self::package_binding_key(shard).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// The events exchange alone: all a reader of result events needs (the
    /// broadcaster), whatever the shard count.
    pub async fn declare_events(&self, channel: &Channel) -> lapin::Result<()> {
        channel
            .exchange_declare(
                self.events_exchange().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
    }

    /// Declares the marker queue with this shard count, or says which count
    /// the broker has (the refusal closes `channel`).
    async fn record_shards(&self, channel: &Channel) -> Result<(), DeclareError> {
        let declared = channel
            .queue_declare(
                self.marker_queue().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                self.marker_queue_arguments(),
            )
            .await;
        match declared {
            Ok(_) => Ok(()),
            Err(error) => {
                let text = error.to_string();
                if !text.contains("inequivalent arg 'x-max-length'") {
                    return Err(error.into());
                }
                // "... received '8' but current is '4'" (or "... current is the
                // value '4' of type 'long'" when the types differ).
                let recorded = text
                    .split_once("current is ")
                    .map(|(_, rest)| rest.trim_start_matches("the value "))
                    .and_then(|rest| rest.strip_prefix('\''))
                    .and_then(|rest| rest.split_once('\''))
                    .map_or_else(|| "another number of".to_owned(), |(n, _)| n.to_owned());
                Err(DeclareError::ShardsMismatch {
                    configured: self.package_shards,
                    recorded,
                    prefix: self.prefix.clone(),
                })
            }
        }
    }

    /// The marker's arguments: the shard count as its `x-max-length`.
    pub fn marker_queue_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(i64::from(self.package_shards)),
        );
        arguments
    }

    pub fn dead_queue_arguments(&self) -> FieldTable {
        quorum_args(None, false)
    }

    /// Arguments of every package shard queue.
    pub fn work_queue_arguments(&self) -> FieldTable {
        quorum_args(Some(&self.dead_exchange()), true)
    }

    /// Like the shard queues, but without a single active consumer.
    pub fn locations_queue_arguments(&self) -> FieldTable {
        quorum_args(Some(&self.dead_exchange()), false)
    }

    /// The delay line: messages expire after [`LOCATION_RETRY_DELAY_MS`] back
    /// to the commands exchange as location commands.
    pub fn location_retry_queue_arguments(&self) -> FieldTable {
        self.retry_queue_arguments(LOCATION_RETRY_DELAY_MS, Self::LOCATION_ROUTING_KEY)
    }

    /// The mail pool's delay line, back to the mail queue after
    /// [`MAIL_RETRY_DELAY_MS`].
    pub fn mail_retry_queue_arguments(&self) -> FieldTable {
        self.retry_queue_arguments(MAIL_RETRY_DELAY_MS, Self::MAIL_ROUTING_KEY)
    }

    /// A delay line: messages expire after `delay_ms` back to the commands
    /// exchange under `routing_key`.
    fn retry_queue_arguments(&self, delay_ms: i64, routing_key: &str) -> FieldTable {
        let mut args = quorum_args(None, false);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay_ms));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.commands_exchange().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(routing_key.into()),
        );
        // At-least-once dead-lettering needs reject-publish overflow.
        args.insert(
            "x-dead-letter-strategy".into(),
            AMQPValue::LongString("at-least-once".into()),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
        args
    }

    /// The routing-key pattern binding a shard queue to the commands exchange.
    pub fn package_binding_key(shard: u16) -> String {
        format!("package.{shard}.*")
    }

    /// Removes everything [`Topology::declare`] made. For tests and teardown only.
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        let mut queues = vec![
            self.marker_queue(),
            self.dead_queue(),
            self.locations_queue(),
            self.location_retry_queue(),
            self.mail_queue(),
            self.mail_retry_queue(),
        ];
        queues.extend((0..self.package_shards).map(|s| self.package_queue(s)));
        // Try everything, report the first failure: one stuck queue should
        // not leave the rest behind.
        let mut first_error = None;
        for queue in queues {
            if let Err(error) = channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
            {
                first_error.get_or_insert(error);
            }
        }
        for exchange in [
            self.commands_exchange(),
            self.events_exchange(),
            self.dead_exchange(),
        ] {
            if let Err(error) = channel
                .exchange_delete(exchange.into(), Default::default())
                .await
            {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Arguments of a durable quorum queue; work queues also get a delivery limit
/// and dead-lettering, ordered ones a single active consumer.
fn quorum_args(dead_letter_exchange: Option<&str>, single_active_consumer: bool) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if let Some(exchange) = dead_letter_exchange {
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(exchange.into()),
        );
    }
    if single_active_consumer {
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharding_is_stable_and_spreads() {
        let topology = Topology::new("dt", 8);
        assert_eq!(
            topology.shard_of("TRK123456789"),
            topology.shard_of("TRK123456789")
        );
        let used: std::collections::HashSet<u16> = (0..200)
            .map(|i| topology.shard_of(&format!("TRK{i:09}")))
            .collect();
        assert_eq!(
            used.len(),
            8,
            "200 tracking numbers should reach all 8 shards"
        );
        assert!(used.iter().all(|&s| s < 8));
    }

    #[test]
    fn names_carry_the_prefix() {
        let topology = Topology::new("t1", 2);
        assert_eq!(topology.package_queue(1), "t1.packages.1");
        assert_eq!(topology.commands_exchange(), "t1.commands");
        let key = topology.package_routing_key("TRK123456789", "create");
        assert!(
            key.starts_with("package.") && key.ends_with(".create"),
            "{key}"
        );
        assert_eq!(
            Topology::event_routing_key("TRK1", "created"),
            "package.TRK1.created"
        );
    }
}
