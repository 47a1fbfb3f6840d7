//! Carrying out a window's [`Effects`], and ending the window.

use super::{ConsumeError, Effects, Flow, Runner, Settlement};
use crate::publisher::{Abandoned, Message};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;

impl Runner {
    /// The only code that invalidates, publishes and replies for a window.
    /// Replies go last: a requester told "done" finds the caches already
    /// invalidated and the events already with the broker.
    pub async fn settle(&self, pool: &'static str, effects: Effects) -> Settlement {
        let Effects {
            messages,
            invalidations,
            auth_changed,
            accounts_changed,
            replies,
        } = effects;
        self.invalidator.invalidate(invalidations).await;
        if auth_changed {
            self.invalidator.auth_changed().await;
        }
        self.invalidator.accounts_changed(accounts_changed).await;
        if self
            .publisher
            .publish_committed(&messages, &self.stop)
            .await
            .is_err()
        {
            return Settlement::Abandon;
        }
        // Counted once the broker has them: an abandoned window is
        // redelivered and would count twice.
        let dead = self.topology.dead_exchange();
        let dead_letters = messages.iter().filter(|m| m.exchange == dead).count();
        self.metrics.dead_lettered(pool, dead_letters);
        for reply in replies {
            match reply.event.seal(&self.keys) {
                Ok(payload) => {
                    self.publisher
                        .reply(&reply.reply_to, &reply.correlation_id, &payload)
                        .await
                }
                Err(error) => tracing::error!(%error, "cannot encode a reply"),
            }
        }
        Settlement::Ack
    }

    /// Publishes, confirmed, what a handler owes before its window is done:
    /// events of state it already committed, sent early so their watchers do
    /// not wait on the rest of the window. A lost connection ends the session
    /// with an error, as in [`Self::finish`], and the pool reconnects (the
    /// window is redelivered): the consumers are stopped, and told why
    /// ([`Runner::publishing_lost`]), so none takes it for a shutdown.
    pub async fn publish_early(&self, messages: &[Message]) -> Result<(), Abandoned> {
        let published = self.publisher.publish_committed(messages, &self.stop).await;
        if published.is_err() && !self.stop.is_cancelled() {
            self.publishing_lost
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.stop.cancel();
        }
        published
    }

    /// Acks a settled window, or turns an abandoned one into the loop's end:
    /// Ok on shutdown, an error (so the pool reconnects) when the broker
    /// link is gone.
    pub(super) async fn finish<F: Flow>(
        &self,
        window: &[Delivery],
        settlement: Settlement,
    ) -> Result<(), ConsumeError> {
        match settlement {
            Settlement::Ack => {
                // One ack for the whole window: deliveries on a channel are
                // tagged in order, and windows are finished in order.
                if let Some(last) = window.last() {
                    last.ack(BasicAckOptions { multiple: true }).await?;
                }
                self.metrics.acked(F::POOL, window.len());
                Ok(())
            }
            Settlement::Abandon if self.stop.is_cancelled() => Ok(()),
            Settlement::Abandon => Err(ConsumeError::PublishingLost),
        }
    }
}
