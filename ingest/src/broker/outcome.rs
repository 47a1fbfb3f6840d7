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
    /// published (the reply may beat the confirm). `command` is the
    /// command's event id: only an outcome of that command is handed over.
    pub(super) fn await_outcome(&self, command: Uuid) -> PendingOutcome {
        let (sender, receiver) = oneshot::channel();
        let correlation = Uuid::new_v4();
        if let Ok(mut waiters) = self.inner.waiters.lock() {
            waiters.insert(correlation, (command, sender));
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
        let Some((command, waiter)) = waiter else {
            return;
        };
        // A reply that does not verify is dropped: the request answers 202
        // (accepted, outcome unknown) rather than what a forger said. So is
        // a genuine outcome of another command: the correlation id is not
        // sealed, and anyone on the broker sees it on the command, so a
        // captured reply could otherwise answer someone else's request.
        match Envelope::<Event>::open(payload, &self.inner.keys) {
            Ok(outcome) if outcome.event_id == command => {
                let _ = waiter.send(outcome);
            }
            Ok(outcome) => tracing::warn!(
                expected = %command,
                got = %outcome.event_id,
                "reply refused: the outcome of another command"
            ),
            Err(error) => tracing::warn!(%error, "reply refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::RejectReason;
    use shared::wire::{AccountOutcome, SigningKeys};
    use tokio_util::sync::CancellationToken;

    fn broker(keys: &SigningKeys) -> Broker {
        let stop = CancellationToken::new();
        stop.cancel();
        let brokers = shared::brokers::Brokers::new(vec!["amqp://127.0.0.1:1/%2f".into()]);
        let topology = shared::topology::Topology::new("outcome-test", 4);
        let metrics = std::sync::Arc::new(crate::metrics::IngestMetrics::default());
        Broker::start(
            &brokers,
            topology,
            keys.clone(),
            Duration::from_secs(1),
            metrics,
            stop,
        )
        .0
    }

    fn outcome_of(command: Uuid, keys: &SigningKeys) -> Vec<u8> {
        let body = Event::Account(AccountOutcome::AccountRejected {
            reason: RejectReason::NotFound,
            message: "no such account".into(),
        });
        Envelope::new(command, chrono::Utc::now(), Default::default(), body)
            .seal(keys)
            .expect("sealed")
    }

    #[tokio::test]
    async fn a_genuine_outcome_of_another_command_answers_no_request() {
        let keys = SigningKeys::new("1", &[7; 32], None);
        let broker = broker(&keys);
        let (mine, another) = (Uuid::new_v4(), Uuid::new_v4());

        let pending = broker.await_outcome(mine);
        let correlation = pending.correlation.to_string();
        broker.deliver_outcome(&correlation, &outcome_of(another, &keys));
        assert!(pending.wait(Duration::from_millis(50)).await.is_none());

        let pending = broker.await_outcome(mine);
        let correlation = pending.correlation.to_string();
        broker.deliver_outcome(&correlation, &outcome_of(mine, &keys));
        let outcome = pending.wait(Duration::from_millis(50)).await;
        assert_eq!(outcome.map(|o| o.event_id), Some(mine));
    }
}
