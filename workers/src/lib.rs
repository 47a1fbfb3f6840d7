//! DeliverTrack worker pools: consume commands, apply them, report the outcome.
//!
//! - [`config`]: the pool's settings from the environment.
//! - [`startup`]: connects to the broker, declares the topology, runs one consumer
//!   per owned shard queue, and reconnects when the broker goes away.
//! - [`consumer`]: the per-queue loop: decode → apply (retrying transient
//!   failures) → invalidate cached views → publish result events → reply → ack.
//! - [`packages`]: applying package commands in one PostgreSQL transaction each.
//! - [`locations`]: applying location batches: MongoDB history, latest
//!   position in PostgreSQL and MongoDB, only ever moving forward in time.
//! - [`dead_letter`]: where messages that can never succeed go, with their reason.
//!
//! A message is acked only after its effects are committed and its result event
//! is confirmed by the broker, so a crash at any point means a redelivery, and a
//! redelivery changes nothing (the command's event id is unique in the history).

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod locations;
pub mod packages;
pub mod startup;

pub use config::WorkerConfig;
pub use startup::run;
