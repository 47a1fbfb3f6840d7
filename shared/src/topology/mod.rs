//! Broker names and routing, and their idempotent declaration.
//!
//! ```text
//! <prefix>.commands (topic) ── package.<shard>.<kind> ──▶ <prefix>.packages.<shard>   (quorum, single active consumer)
//!                           ── location.record ─────────▶ <prefix>.locations          (quorum, competing consumers)
//!                           ── mail.send ───────────────▶ <prefix>.mail               (quorum, competing consumers)
//! <prefix>.events   (topic) ── package.<tracking_number>.<kind> ──▶ broadcasters, tests
//!                   ── package.*.<kind> (not location) ──▶ <prefix>.webhooks.events (quorum)
//!                   ── package.*.location, while an endpoint wants it, bound by the webhook pool
//! (default exchange) ─────────────────────────────────────▶ <prefix>.webhooks.send   (quorum)
//! (default exchange) ─────────────────────────────────────▶ <prefix>.webhooks.retry.<n>s (quorum, TTL n s)
//!                        └── expired ────────────────────▶ <prefix>.webhooks.send
//!                   ── package.*.status_changed ──────────▶ <prefix>.mail.recipients (quorum)
//! (default exchange) ─────────────────────────────────────▶ <prefix>.mail.held       (quorum, TTL 30 min)
//!                        └── expired: mail.send ─────────▶ <prefix>.commands
//! (default exchange) ─────────────────────────────────────▶ <prefix>.mail.eta        (quorum, TTL 5 min)
//!                        └── expired: mail.send ─────────▶ <prefix>.commands
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

mod declare;

pub use declare::QueueSpec;

/// How many times a quorum queue redelivers a message before dead-lettering it.
/// Workers retry transient failures in-process, so a message only reaches this
/// limit when it crashes workers over and over.
pub const DELIVERY_LIMIT: i64 = 20;

/// How long points for an unknown package wait before they are tried again.
pub const LOCATION_RETRY_DELAY_MS: i64 = 1000;

/// How long a mail the SMTP server did not take waits before the next try.
pub const MAIL_RETRY_DELAY_MS: i64 = 30_000;

/// The longest a recipient mail held in quiet hours waits before it asks
/// again (`<prefix>.mail.held`).
pub const MAIL_HOLD_MS: i64 = 30 * 60 * 1000;

/// The longest an out-for-delivery mail waits for its package's first
/// arrival estimate (`<prefix>.mail.eta`; each waits its own
/// `RECIPIENT_ETA_WAIT_S`, at most this).
pub const MAIL_ETA_WAIT_MAX_MS: i64 = 5 * 60 * 1000;

/// The webhook pool's delay lines, in seconds: a failed attempt waits on
/// the shortest that holds its backoff (its own expiration shortens the
/// wait).
pub const WEBHOOK_RETRY_RUNGS_S: [u64; 6] = [1, 10, 60, 600, 3600, 21_600];

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

    /// Status changes the mail pool tells packages' recipients about.
    pub fn mail_recipients_queue(&self) -> String {
        format!("{}.mail.recipients", self.prefix)
    }

    /// Where recipient mail waits out quiet hours.
    pub fn mail_held_queue(&self) -> String {
        format!("{}.mail.held", self.prefix)
    }

    /// Where an out-for-delivery mail waits for its package's first arrival
    /// estimate. Every mail on it waits as long, so its head expires first.
    pub fn mail_eta_queue(&self) -> String {
        format!("{}.mail.eta", self.prefix)
    }
    pub const MAIL_BINDING_KEY: &'static str = "mail.*";

    /// The events the webhook pool fans out to endpoints.
    pub fn webhook_events_queue(&self) -> String {
        format!("{}.webhooks.events", self.prefix)
    }

    /// Attempts at deliveries to make.
    pub fn webhook_send_queue(&self) -> String {
        format!("{}.webhooks.send", self.prefix)
    }

    /// The delay line of `rung_s` seconds.
    pub fn webhook_retry_queue(&self, rung_s: u64) -> String {
        format!("{}.webhooks.retry.{rung_s}s", self.prefix)
    }

    /// The key binding one endpoint kind: of every package, or of every
    /// courier (`courier_` kinds).
    pub fn webhook_event_binding(kind: &str) -> String {
        crate::event_kinds::binding(kind)
    }

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

    /// A courier's events: `courier.<id>.<kind>` (never matched by a
    /// package binding).
    pub fn courier_event_routing_key(courier_id: uuid::Uuid, kind: &str) -> String {
        format!("courier.{courier_id}.{kind}")
    }

    /// The routing-key pattern binding a shard queue to the commands exchange.
    pub fn package_binding_key(shard: u16) -> String {
        format!("package.{shard}.*")
    }
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
