//! DeliverTrack broadcaster: result events pushed to WebSocket subscribers.
//!
//! - [`config`]: settings from the environment.
//! - [`auth`]: the token at the upgrade (header or `?token=`) and the
//!   policy's check of every subscription; [`admission`] caps anonymous
//!   connections per client network.
//! - [`startup`]: builds the service, accepts connections under a cap, and
//!   closes every client with a close frame on shutdown; [`upgrade`]: one
//!   socket from its request line to the end of its WebSocket.
//! - [`events`]: the broker side: one exclusive queue per instance, bound to
//!   `package.<tn>.*` while local clients watch that package; bindings are
//!   changed by one task, so a subscribe racing an unsubscribe converges.
//! - [`hub`]: who watches what ([`keys`]: what a watched key names); each
//!   event is encoded once and its bytes
//!   shared by every subscriber; a subscriber whose bounded queue is full is
//!   marked slow and disconnected, never waited for.
//! - [`connection`]: one WebSocket client's reader: the protocol (subscribe,
//!   unsubscribe), idle timeout; [`protocol`] parses what clients send;
//!   [`subscriptions`]: the one type that keeps a subscription's set, hub
//!   entry, broker binding, gauge and writer in step.
//! - [`writer`]: its sending half: outbox → streams → socket, heartbeats,
//!   reads from the stores, the close frame.
//! - [`streams`]: each client gets each package's events strictly by `seq`,
//!   live and read back alike: no duplicate, no reordering, gaps filled from
//!   the stores (`since_seq` catch-up included), and only what the stores
//!   lack skipped, with a `gap` message.
//! - [`store`]: a package's events read back a page at a time.
//! - [`update`]: live events as `package_update` frames (`shared::frames`).
//! - [`metrics`]: connections, subscriptions, deliveries, slow drops, lag;
//!   [`endpoints`] serves them at `/metrics` beside `/ws`, with `/health`.
//! - [`feed`]: resuming the every-package feed from a cursor, and the
//!   checkpoints that move clients' cursors forward.
//! - [`rights`]: a courier's rights move with their deliveries; connections
//!   check their subscriptions again when they may have changed.
//! - [`couriers`]: couriers' moves and presence to their watchers and the
//!   feed, and to the watchers of the packages riding with them.
//! - [`presence`]: this instance's connection count, reported to Redis for
//!   ingest's `/api/v1/stats`.

pub mod admission;
pub mod auth;
pub mod config;
pub mod connection;
pub mod couriers;
pub mod endpoints;
pub mod events;
pub mod feed;
pub mod hub;
pub mod keys;
pub mod metrics;
pub mod presence;
pub mod protocol;
pub mod rights;
pub mod startup;
pub mod store;
pub mod streams;
pub mod subscriptions;
pub mod update;
pub mod upgrade;
pub mod writer;

pub use config::BroadcasterConfig;
pub use startup::Application;
