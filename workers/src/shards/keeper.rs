//! The keeper: consumes the shards of this replica's share, each on a
//! channel of its own, and hands over the ones that leave it.
//!
//! Handing a shard over: its consumer stops taking windows, finishes and
//! acks the ones it started, then closes its channel. Closing (rather than
//! cancelling the consumer) returns what was prefetched but never taken to
//! the head of the queue in the same step that frees the shard, so the
//! replica the broker activates next starts with those messages: a
//! package's commands stay in order across the hand-over.

use super::{ShardSet, Share};
use crate::runner::{consume, open_consumer, ConsumeError, Flow, Runner, Window};
use lapin::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The shard consumers running, each with the token that hands it over.
type Running = BTreeMap<u16, CancellationToken>;

/// Each shard consumer's task ends with its shard and why it ended.
type ShardConsumers = JoinSet<(u16, Result<(), ConsumeError>)>;

pub struct Keeper<F> {
    pub connection: Arc<Connection>,
    pub runner: Arc<Runner>,
    pub flow: Arc<F>,
    pub window: Window,
    pub share: Share,
}

impl<F: Flow + 'static> Keeper<F> {
    /// Follows the share until the session stops (Ok) or a shard's channel
    /// fails (Err, after stopping the others: the session reconnects).
    pub async fn run(mut self) -> Result<(), ConsumeError> {
        let mut running = Running::new();
        let mut consumers = ShardConsumers::new();
        let mut following = true;
        let outcome = loop {
            if let Err(error) = self.reconcile(&mut running, &mut consumers).await {
                break Err(error.into());
            }
            tokio::select! {
                _ = self.runner.stop.cancelled() => break Ok(()),
                changed = self.share.wanted.changed(), if following => {
                    following = changed.is_ok();
                }
                Some(joined) = consumers.join_next() => match joined {
                    Ok((shard, Ok(()))) => self.ended(shard, &mut running),
                    Ok((_, Err(error))) => break Err(error),
                    Err(panic) => break Err(ConsumeError::Panicked(panic.to_string())),
                },
            }
        };
        self.runner.stop.cancel();
        while let Some(joined) = consumers.join_next().await {
            if let Ok((shard, _)) = joined {
                self.ended(shard, &mut running);
            }
        }
        outcome
    }

    /// Hands over the shards that left the share, then starts the ones that
    /// joined it (a shard still being handed over starts again once it is).
    async fn reconcile(
        &mut self,
        running: &mut Running,
        consumers: &mut ShardConsumers,
    ) -> Result<(), lapin::Error> {
        let wanted: ShardSet = self.share.wanted.borrow_and_update().clone();
        for (shard, release) in running.iter() {
            if !wanted.contains(shard) && !release.is_cancelled() {
                tracing::info!(shard, "handing a package shard over");
                release.cancel();
            }
        }
        let starting: Vec<u16> = wanted
            .iter()
            .copied()
            .filter(|shard| !running.contains_key(shard))
            .collect();
        for shard in starting {
            let release = self.runner.stop.child_token();
            self.start(shard, release.clone(), consumers).await?;
            running.insert(shard, release);
            self.held(shard, true, running);
        }
        Ok(())
    }

    async fn start(
        &self,
        shard: u16,
        release: CancellationToken,
        consumers: &mut ShardConsumers,
    ) -> Result<(), lapin::Error> {
        let queue = self.runner.topology.package_queue(shard);
        let prefetch = u16::try_from(self.window.max_messages).unwrap_or(u16::MAX);
        let tag = self.share.consumer_tag(shard);
        let (channel, consumer) = open_consumer(&self.connection, &queue, prefetch, &tag).await?;
        let (runner, flow, window) = (
            Arc::clone(&self.runner),
            Arc::clone(&self.flow),
            self.window,
        );
        tracing::info!(shard, "consuming a package shard");
        consumers.spawn(async move {
            let result = consume(&runner, &*flow, &queue, consumer, window, &release).await;
            let handed_over = release.is_cancelled() && !runner.stop.is_cancelled();
            if result.is_ok() && handed_over {
                if let Err(error) = channel.close(200, "shard handed over".into()).await {
                    return (shard, Err(error.into()));
                }
            }
            (shard, result)
        });
        Ok(())
    }

    /// A shard's consumer ended: handed over, or the session is stopping.
    fn ended(&self, shard: u16, running: &mut Running) {
        running.remove(&shard);
        self.held(shard, false, running);
    }

    fn held(&self, shard: u16, held: bool, running: &Running) {
        self.runner
            .metrics
            .shard_held
            .with_label_values(&[&shard.to_string()])
            .set(i64::from(held));
        self.share
            .held
            .send_replace(running.keys().copied().collect());
    }
}
