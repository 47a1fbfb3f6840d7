//! Declaring the topology, idempotently: every exchange and queue, from
//! one list ([`Topology::queues`]) that declaring and deleting both use.

use super::DeclareError;
use super::{
    Topology, DELIVERY_LIMIT, LOCATION_RETRY_DELAY_MS, MAIL_ETA_WAIT_MAX_MS, MAIL_HOLD_MS,
    MAIL_RETRY_DELAY_MS, WEBHOOK_RETRY_RUNGS_S,
};
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

/// One durable queue: its name, its arguments, and the exchange and key it
/// is bound with (none: it is published to by name).
pub struct QueueSpec {
    pub name: String,
    pub arguments: FieldTable,
    pub binding: Option<(String, String)>,
    /// More keys it is bound with (the webhook pool's event kinds).
    pub more_bindings: Vec<(String, String)>,
}

impl Topology {
    /// Every exchange, with its kind.
    fn exchanges(&self) -> [(String, ExchangeKind); 3] {
        [
            (self.events_exchange(), ExchangeKind::Topic),
            (self.commands_exchange(), ExchangeKind::Topic),
            (self.dead_exchange(), ExchangeKind::Fanout),
        ]
    }

    /// Every queue but the marker, in declaration order.
    pub fn queues(&self) -> Vec<QueueSpec> {
        let commands = |key: &str| Some((self.commands_exchange(), key.to_owned()));
        let mut queues = vec![
            QueueSpec {
                name: self.dead_queue(),
                arguments: self.dead_queue_arguments(),
                binding: Some((self.dead_exchange(), String::new())),
                more_bindings: Vec::new(),
            },
            QueueSpec {
                name: self.locations_queue(),
                arguments: self.locations_queue_arguments(),
                binding: commands(Self::LOCATION_BINDING_KEY),
                more_bindings: Vec::new(),
            },
            QueueSpec {
                name: self.location_retry_queue(),
                arguments: self.location_retry_queue_arguments(),
                binding: None,
                more_bindings: Vec::new(),
            },
        ];
        queues.extend(self.mail_queues());
        queues.extend(self.webhook_queues());
        queues.extend((0..self.package_shards).map(|shard| QueueSpec {
            name: self.package_queue(shard),
            arguments: self.work_queue_arguments(),
            binding: commands(&Self::package_binding_key(shard)),
            more_bindings: Vec::new(),
        }));
        queues
    }

    /// The mail pool's queues: requests, their delay lines, and the status
    /// changes it turns into recipient mail.
    fn mail_queues(&self) -> [QueueSpec; 5] {
        let delay_line = |name: String, ttl_ms: i64| QueueSpec {
            name,
            arguments: self.retry_queue_arguments(ttl_ms, Self::MAIL_ROUTING_KEY),
            binding: None,
            more_bindings: Vec::new(),
        };
        [
            QueueSpec {
                name: self.mail_queue(),
                arguments: self.locations_queue_arguments(),
                binding: Some((self.commands_exchange(), Self::MAIL_BINDING_KEY.to_owned())),
                more_bindings: Vec::new(),
            },
            QueueSpec {
                name: self.mail_retry_queue(),
                arguments: self.mail_retry_queue_arguments(),
                binding: None,
                more_bindings: Vec::new(),
            },
            QueueSpec {
                name: self.mail_recipients_queue(),
                arguments: self.locations_queue_arguments(),
                binding: Some((
                    self.events_exchange(),
                    Self::webhook_event_binding("status_changed"),
                )),
                more_bindings: Vec::new(),
            },
            delay_line(self.mail_held_queue(), MAIL_HOLD_MS),
            delay_line(self.mail_eta_queue(), MAIL_ETA_WAIT_MAX_MS),
        ]
    }

    /// Declares every exchange and queue, after checking that the broker's
    /// shard count is this one's. Safe to run from many instances at once.
    /// Uses channels of its own (a refusal closes the channel it came on).
    pub async fn declare(&self, connection: &Connection) -> Result<(), DeclareError> {
        self.record_shards(connection).await?;
        let channel = connection.create_channel().await?;
        self.declare_on(&channel).await?;
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(())
    }

    async fn declare_on(&self, channel: &Channel) -> Result<(), DeclareError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for (exchange, kind) in self.exchanges() {
            channel
                .exchange_declare(exchange.into(), kind, durable, FieldTable::default())
                .await?;
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for queue in self.queues() {
            channel
                .queue_declare(queue.name.as_str().into(), durable, queue.arguments)
                .await?;
            for (exchange, key) in queue.binding.into_iter().chain(queue.more_bindings) {
                channel
                    .queue_bind(
                        queue.name.as_str().into(),
                        exchange.into(),
                        key.into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
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
    /// the broker has.
    ///
    /// The marker is a quorum queue, so it outlives any one node of a
    /// cluster; a deployment from before that has a classic marker, which
    /// is checked as it is (its home node must be up).
    async fn record_shards(&self, connection: &Connection) -> Result<(), DeclareError> {
        let quorum = self
            .check_marker(connection, self.marker_queue_arguments())
            .await;
        match quorum {
            Err(DeclareError::Broker(error))
                if error
                    .to_string()
                    .contains("inequivalent arg 'x-queue-type'") =>
            {
                self.check_marker(connection, self.legacy_marker_arguments())
                    .await
            }
            other => other,
        }
    }

    /// Declares the marker with `arguments` on a channel of its own.
    async fn check_marker(
        &self,
        connection: &Connection,
        arguments: FieldTable,
    ) -> Result<(), DeclareError> {
        let channel = connection.create_channel().await?;
        let declared = channel
            .queue_declare(
                self.marker_queue().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await;
        match declared {
            Ok(_) => {
                let _ = channel.close(200, "shards checked".into()).await;
                Ok(())
            }
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

    /// The marker's arguments: a quorum queue, the shard count as its
    /// `x-max-length`.
    pub fn marker_queue_arguments(&self) -> FieldTable {
        let mut arguments = self.legacy_marker_arguments();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        arguments
    }

    /// A classic marker's (before markers were replicated).
    fn legacy_marker_arguments(&self) -> FieldTable {
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

    /// The webhook pool's queues: the events it fans out (every kind an
    /// endpoint may ask for but the opt-in ones, which the pool binds
    /// itself while an endpoint wants them), the attempts to make, and the delay
    /// lines attempts wait on after a failure.
    fn webhook_queues(&self) -> Vec<QueueSpec> {
        let mut queues = vec![
            QueueSpec {
                name: self.webhook_events_queue(),
                arguments: self.locations_queue_arguments(),
                binding: None,
                more_bindings: crate::event_kinds::ALL
                    .iter()
                    .filter(|kind| !crate::event_kinds::OPT_IN.contains(kind))
                    .map(|kind| (self.events_exchange(), Self::webhook_event_binding(kind)))
                    .collect(),
            },
            QueueSpec {
                name: self.webhook_send_queue(),
                arguments: self.locations_queue_arguments(),
                binding: None,
                more_bindings: Vec::new(),
            },
        ];
        queues.extend(WEBHOOK_RETRY_RUNGS_S.iter().map(|&rung| QueueSpec {
            name: self.webhook_retry_queue(rung),
            arguments: self.delay_line_arguments(
                i64::try_from(rung * 1000).unwrap_or(i64::MAX),
                "",
                &self.webhook_send_queue(),
            ),
            binding: None,
            more_bindings: Vec::new(),
        }));
        queues
    }

    /// A delay line: messages expire after `delay_ms` back to the commands
    /// exchange under `routing_key`.
    fn retry_queue_arguments(&self, delay_ms: i64, routing_key: &str) -> FieldTable {
        self.delay_line_arguments(delay_ms, &self.commands_exchange(), routing_key)
    }

    /// A delay line: messages expire after `delay_ms` (or their own
    /// expiration, if shorter, once at the head) to `exchange` under
    /// `routing_key`.
    fn delay_line_arguments(&self, delay_ms: i64, exchange: &str, routing_key: &str) -> FieldTable {
        let mut args = quorum_args(None, false);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay_ms));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(exchange.into()),
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

    /// Removes everything [`Topology::declare`] made. For tests and teardown only.
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        let mut queues = vec![self.marker_queue()];
        queues.extend(self.queues().into_iter().map(|q| q.name));
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
        for (exchange, _) in self.exchanges() {
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
