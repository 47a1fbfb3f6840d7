//! DeliverTrack worker pools: consume commands, apply them, report the outcome.
//!
//! - [`config`]: the pool's settings from the environment.
//! - [`startup`]: prepares the stores, starts the background tasks and
//!   keeps a broker session up; [`session`]: one session, the topology
//!   declared and one consumer per owned queue.
//! - [`shards`]: how the package pool's replicas share the shards (a
//!   heartbeat per replica in PostgreSQL, the same balanced assignment
//!   computed by each, single-active-consumer underneath).
//! - [`runner`]: the per-queue loop over windows (everything waiting in the
//!   prefetch buffer), the same for every pool: the pool's handler turns a
//!   window into effects as data; one `settle` invalidates cached views,
//!   publishes result events and replies; then the window is acked.
//!   The handlers are `packages::flow` and `locations::flow`.
//! - [`packages`]: a window of package commands (and account sign-ups) in one
//!   PostgreSQL transaction, in queue order, one statement per table; each
//!   command's principal is checked again against the policy.
//! - [`accounts`]: account, session, delivery and device commands, applied
//!   in the package window's transaction.
//! - [`geofences`]: zone commands (written to MongoDB beside the package
//!   window) and zone evaluation of each location window's fixes.
//! - [`arrivals`]: arrival estimates of couriers' remaining stops from
//!   each location window's courier fixes, and the late sweep.
//! - [`bootstrap`]: the first admin account, from configuration.
//! - [`mail`]: the mail pool (verification and reset links over SMTP) and
//!   which outcomes owe a mail.
//! - [`webhooks`]: the webhook pool: result events to integrators'
//!   endpoints, signed, retried on the broker's delay lines, logged.
//! - [`outcome`]: what one command came to.
//! - [`locations`]: a window of location points: sequence numbers and latest
//!   position in PostgreSQL, history and latest position in MongoDB, only ever
//!   moving forward in time; couriers' own reports ride the same windows
//!   (`locations::couriers`), presence is swept there too.
//! - [`publisher`]: confirmed publishing that outlives a closed channel.
//! - [`invalidator`]: marking cached views stale, retried until Redis takes it.
//! - [`dead_letter`]: where messages that can never succeed go, with their reason.
//! - [`dlq`]: listing and re-driving dead letters (`workers dlq ...`).
//! - [`metrics`]: what the pools count, served with `/health` at
//!   `METRICS_LISTEN`.
//!
//! A message is acked only after its effects are committed and its result event
//! is confirmed by the broker, so a crash at any point means a redelivery, and a
//! redelivery changes nothing (the command's event id is unique in the history).
//! Once effects are committed, publishing what they owe is retried until it is
//! confirmed: a committed command never reaches the dead-letter queue.

pub mod accounts;
pub mod arrivals;
pub mod bootstrap;
pub mod config;
pub mod dead_letter;
pub mod dlq;
pub mod geofences;
pub mod invalidator;
pub mod locations;
pub mod mail;
pub mod metrics;
pub mod outcome;
pub mod packages;
pub mod publisher;
pub mod runner;
pub mod session;
pub mod shards;
pub mod startup;
pub mod webhooks;

pub use config::WorkerConfig;
pub use startup::run;
