//! What a handled window comes to, as plain data: nothing here has happened
//! yet. [`super::Runner::settle`] is the only code that carries it out.

use crate::publisher::Message;
use lapin::message::Delivery;
use lapin::types::ShortString;
use shared::wire::{Envelope, Event};
use uuid::Uuid;

/// A window's effects, carried out in this order: invalidate, publish
/// (every message confirmed), reply; then the window is acked.
#[derive(Default)]
pub struct Effects {
    /// Dead letters, events, forwarded work and mail, published with
    /// confirms before anything is acked.
    pub messages: Vec<Message>,
    /// Cached views now stale: `(tracking number, version)`.
    pub invalidations: Vec<(String, i64)>,
    /// A delivery or device changed: who may do what changed.
    pub auth_changed: bool,
    /// Accounts whose role, state or sessions changed.
    pub accounts_changed: Vec<Uuid>,
    /// Outcomes for requesters waiting on a reply queue.
    pub replies: Vec<Reply>,
}

/// An outcome for the requester that waits for it.
pub struct Reply {
    pub reply_to: ShortString,
    pub correlation_id: ShortString,
    pub event: Envelope<Event>,
}

impl Reply {
    /// `None` when nobody waits (the command was sent asynchronously).
    pub fn to(delivery: &Delivery, event: Envelope<Event>) -> Option<Self> {
        Some(Self {
            reply_to: delivery.properties.reply_to().clone()?,
            correlation_id: delivery.properties.correlation_id().clone()?,
            event,
        })
    }
}

/// How a window ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Every delivery is done with (applied or dead-lettered): ack them all.
    Ack,
    /// Shutdown or a lost connection came first: ack nothing; closing the
    /// channel returns the deliveries to the queue.
    Abandon,
}
