//! Webhooks: integrators' HTTPS endpoints that DeliverTrack calls when
//! something happens to a package.
//!
//! - [`kinds`]: which event kinds an endpoint may ask for (a leaf module,
//!   `crate::event_kinds`, since the topology binds them too);
//! - [`secret`]: each endpoint's signing secret (derived, never stored)
//!   and the `X-DeliverTrack-Signature` header receivers verify;
//! - [`address`]: which IP addresses a delivery may never reach
//!   (loopback, private, link-local, metadata, ...);
//! - [`target`]: an endpoint URL checked at the edge, and resolving its
//!   host to addresses that pass [`address`] (at registration and at
//!   every delivery: DNS can change);
//! - [`view`]: an endpoint and its delivery log as the API shows them;
//! - [`payload`]: the JSON body a delivery POSTs.
//!
//! The flow: an endpoint is registered through the package pool
//! (`Command::CreateWebhook`); the webhook pool's fan-out consumes result
//! events from its own queue, records a delivery per matching endpoint and
//! queues a [`SendRequest`]; its sender POSTs, records the attempt, and
//! schedules the next one on the broker's delay lines when it failed.

pub mod address;
pub use crate::event_kinds as kinds;
pub mod payload;
pub mod secret;
pub mod target;
pub mod view;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Asks the webhook pool's sender to make one attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    pub delivery_id: Uuid,
    /// Its endpoint: the sender limits attempts at once per endpoint
    /// before it reads anything.
    pub webhook_id: Uuid,
    /// An owner's explicit redeliver: the same bytes once more, whatever
    /// the delivery's state, with no retries of its own.
    #[serde(default)]
    pub redeliver: bool,
    /// A courier's event: the sender asks whether the owner may still
    /// see couriers before each attempt (a package's event needs no such
    /// query; a redeliver is asked about always).
    #[serde(default)]
    pub courier: bool,
}

/// At most this many endpoints per account.
pub const MAX_PER_ACCOUNT: i64 = 20;
/// At most this many tracking numbers in an endpoint's `packages`.
pub const MAX_PACKAGES: usize = 100;
