//! Opening what a window delivered, and making what it publishes.

use super::Runner;
use crate::dead_letter::dead_letter_message;
use crate::publisher::{envelope_message, Message};
use lapin::message::Delivery;
use shared::amqp::Routing;
use shared::topology::Topology;
use shared::wire::{Envelope, LocationBatch, PackageEvent, WireError};

impl Runner {
    /// Opens and decodes every delivery; one that can never be decoded gets
    /// a dead letter in `messages` and is left out. A message whose seal does
    /// not verify (unsigned, or forged by someone who can publish on the
    /// broker but lacks the key) is refused the same way, counted by why.
    pub fn decode_all<'w, B: serde::de::DeserializeOwned>(
        &self,
        pool: &'static str,
        queue: &str,
        window: impl IntoIterator<Item = &'w Delivery>,
        messages: &mut Vec<Message>,
    ) -> Vec<(&'w Delivery, Envelope<B>)> {
        let mut decoded = Vec::new();
        for delivery in window {
            let opened = self.keys.open(&delivery.data).map_err(|refused| {
                self.metrics
                    .refused
                    .with_label_values(&[pool, refused.label()])
                    .inc();
                WireError::from(refused)
            });
            match opened.and_then(Envelope::<B>::decode) {
                Ok(envelope) => decoded.push((delivery, envelope)),
                Err(error) => messages.push(self.dead_letter(queue, delivery, &error.to_string())),
            }
        }
        decoded
    }

    pub fn dead_letter(&self, queue: &str, delivery: &Delivery, reason: &str) -> Message {
        tracing::error!(
            queue,
            reason,
            "dead-lettering a message that can never succeed"
        );
        dead_letter_message(&self.topology.dead_exchange(), queue, delivery, reason)
    }

    /// A package event for the events exchange (watchers, the broadcaster).
    pub fn event_message(&self, event: &Envelope<PackageEvent>) -> Result<Message, WireError> {
        let kind = event.body.kind();
        envelope_message(
            &self.keys,
            self.topology.events_exchange(),
            Topology::event_routing_key(event.body.tracking_number(), kind),
            event,
            kind,
            Routing::BestEffort,
        )
    }

    /// A courier's event for the events exchange (`courier.<id>.<kind>`).
    pub fn courier_event_message(
        &self,
        event: &Envelope<shared::couriers::CourierEvent>,
    ) -> Result<Message, WireError> {
        let kind = event.body.kind();
        envelope_message(
            &self.keys,
            self.topology.events_exchange(),
            Topology::courier_event_routing_key(event.body.courier_id(), kind),
            event,
            kind,
            Routing::BestEffort,
        )
    }

    /// Points for the location pool.
    pub fn location_message(&self, batch: &Envelope<LocationBatch>) -> Result<Message, WireError> {
        envelope_message(
            &self.keys,
            self.topology.commands_exchange(),
            Topology::LOCATION_ROUTING_KEY.to_owned(),
            batch,
            "location",
            Routing::Mandatory,
        )
    }

    /// A mail for the mail pool.
    pub fn mail_message(
        &self,
        mail: &Envelope<shared::wire::MailRequest>,
    ) -> Result<Message, WireError> {
        envelope_message(
            &self.keys,
            self.topology.commands_exchange(),
            Topology::MAIL_ROUTING_KEY.to_owned(),
            mail,
            "mail",
            Routing::Mandatory,
        )
    }
}

/// A span for one message's part of a window, in the trace it carried: its
/// `trace_id` in the logs, and the message's hop in exported traces.
pub fn applied_in_trace(trace: &shared::wire::TraceContext) -> tracing::Span {
    let span = tracing::info_span!("applied", trace_id = trace.trace_id());
    if let Some(traceparent) = &trace.traceparent {
        shared::telemetry::continue_trace(&span, traceparent);
    }
    span
}
