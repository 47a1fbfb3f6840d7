//! Sharing the package shards between the pool's replicas.
//!
//! Every package shard queue is single-active-consumer: the broker delivers
//! a shard to one consumer at a time, which keeps a package's commands in
//! order whatever the replicas do. On top of that safety net the replicas
//! agree on who *should* consume each shard, so that a second or fourth
//! replica takes load instead of standing by:
//!
//! - [`heartbeat`]: each replica writes its row in `package_pool_members`
//!   every second and reads the live rows back; [`assign`] turns the live
//!   members into the same balanced assignment on every replica (rendezvous
//!   hashing, shares differing by one at most).
//! - [`keeper`]: consumes the shards of this replica's share, each on a
//!   channel of its own; a shard that leaves the share finishes the windows
//!   it started, acks them, and closes its channel, so the broker hands the
//!   shard (and what was prefetched, first) to the replica now assigned.
//!
//! `WORKER_SHARDS=0-3` (a fixed list) skips the agreement: that replica
//! consumes those shards and never hands them over.

pub mod assign;
pub mod heartbeat;
pub mod keeper;

use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;

pub type ShardSet = BTreeSet<u16>;

/// What the heartbeat and the keeper tell each other: the shards this
/// replica should consume, and the ones it does.
#[derive(Clone)]
pub struct Share {
    /// Written by the heartbeat (or fixed); the keeper follows it.
    pub wanted: watch::Receiver<ShardSet>,
    /// Written by the keeper: a shard is held from its consumer's start to
    /// its channel's close. The heartbeat reports it.
    pub held: Arc<watch::Sender<ShardSet>>,
    /// This replica's id in the pool (empty for a fixed share): its shard
    /// consumers are tagged `<member>.shard<N>`, so the broker's consumer
    /// list shows which replica is active where.
    pub member: String,
}

impl Share {
    /// A share that never changes (`WORKER_SHARDS` lists the shards).
    pub fn fixed(shards: impl IntoIterator<Item = u16>) -> Self {
        // The sender is dropped: the keeper reads the value once and then
        // sees that no change can come.
        let (_, wanted) = watch::channel(shards.into_iter().collect());
        Self::following(wanted, String::new())
    }

    /// The share of `member`, following `wanted`.
    pub fn following(wanted: watch::Receiver<ShardSet>, member: String) -> Self {
        Self {
            wanted,
            held: Arc::new(watch::channel(ShardSet::new()).0),
            member,
        }
    }

    /// The consumer tag of this replica's consumer on `shard` (empty: the
    /// broker names it).
    pub fn consumer_tag(&self, shard: u16) -> String {
        if self.member.is_empty() {
            String::new()
        } else {
            format!("{}.shard{shard}", self.member)
        }
    }
}
