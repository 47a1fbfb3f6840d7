//! DeliverTrack broadcaster: result events pushed to WebSocket subscribers.
//!
//! - [`config`]: settings from the environment.
//! - [`startup`]: builds the service, accepts connections under a cap, and
//!   closes every client with a close frame on shutdown.
//! - [`events`]: the broker side: one exclusive queue per instance, bound to
//!   `package.<tn>.*` while local clients watch that package; bindings are
//!   changed by one task, so a subscribe racing an unsubscribe converges.
//! - [`hub`]: who watches what; each event is encoded once and its bytes
//!   shared by every subscriber; a subscriber whose bounded queue is full is
//!   marked slow and disconnected, never waited for.
//! - [`connection`]: one WebSocket client: the protocol (subscribe,
//!   unsubscribe), heartbeats, idle timeout, and its writer task.
//! - [`update`]: the `package_update` message in the original shape.
//! - [`replay`]: what a reconnecting client missed (`since_seq`), from the stores.
//! - [`ordering`]: each client gets each package's events strictly by `seq`,
//!   replayed and live alike: no gap, no duplicate, no reordering.
//! - [`metrics`]: connections, subscriptions, deliveries, slow drops, delay.

pub mod config;
pub mod connection;
pub mod events;
pub mod hub;
pub mod metrics;
pub mod ordering;
pub mod replay;
pub mod startup;
pub mod update;

pub use config::BroadcasterConfig;
pub use startup::Application;
