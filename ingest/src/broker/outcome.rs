//! Outcomes coming back: a request that waits for its command's outcome
//! holds a [`PendingOutcome`], registered under a correlation id of its own;
//! the replies consumed on the link are handed to it.

use super::Broker;
use shared::wire::{Envelope, Event};
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A request's claim on an outcome; dropping it (timeout, client gone)
/// unregisters it. Keyed by a correlation id of its own, not the event
/// id: two requests may carry one command (a retried refresh, a reused
/// Idempotency-Key), and each waits for its own reply.
pub struct PendingOutcome {
    pub(super) broker: Broker,
    pub(super) correlation: Uuid,
    pub(super) receiver: oneshot::Receiver<Envelope<Event>>,
}

impl PendingOutcome {
    /// The outcome, or `None` if it did not come within `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<Envelope<Event>> {
        tokio::time::timeout(timeout, &mut self.receiver)
            .await
            .ok()?
            .ok()
    }
}

impl Drop for PendingOutcome {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.broker.inner.waiters.lock() {
            waiters.remove(&self.correlation);
        }
    }
}

impl Broker {
    /// Registers a request that waits for its outcome, before its command is
    /// published (the reply may beat the confirm).
    pub(super) fn await_outcome(&self) -> PendingOutcome {
        let (sender, receiver) = oneshot::channel();
        let correlation = Uuid::new_v4();
        if let Ok(mut waiters) = self.inner.waiters.lock() {
            waiters.insert(correlation, sender);
        }
        PendingOutcome {
            broker: self.clone(),
            correlation,
            receiver,
        }
    }

    /// Hands a reply to the request waiting for it, if any still does.
    pub(super) fn deliver_outcome(&self, correlation_id: &str, payload: &[u8]) {
        let Ok(correlation) = Uuid::parse_str(correlation_id) else {
            return;
        };
        let waiter = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&correlation));
        let Some(waiter) = waiter else { return };
        // A reply that does not verify is dropped: the request answers 202
        // (accepted, outcome unknown) rather than what a forger said.
        match Envelope::<Event>::open(payload, &self.inner.keys) {
            Ok(outcome) => {
                let _ = waiter.send(outcome);
            }
            Err(error) => tracing::warn!(%error, "reply refused"),
        }
    }
}
