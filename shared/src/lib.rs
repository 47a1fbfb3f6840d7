//! Everything the DeliverTrack services must agree on.
//!
//! - [`domain`]: validated newtypes (`TrackingNumber`, `Coordinates`, ...) and the
//!   package status flow. Parse at the edge, trust inside.
//! - [`packages`]: the packages flow's view, events and the reads of its
//!   tables; [`locations`]: the locations flow's points, their parsing,
//!   stored documents and rendering; [`frames`]: the `package_update`
//!   frame both render into; [`couriers`]: the couriers flow's reports
//!   (JSON API and OsmAnd protocol), presence and the stretches packages
//!   ride aboard a courier.
//! - [`geofences`]: zones, their shapes and hysteresis, an in-memory
//!   index; [`notices`]: what workers tell watchers unasked (zone and
//!   arrival events); [`arrivals`]: arrival estimates and what runs teach them.
//! - [`fields`]: reading a JSON object's fields, every problem named.
//! - [`wire`]: the versioned MessagePack envelopes that travel through RabbitMQ:
//!   commands (ingest → workers) and result events (workers → ingest, broadcaster).
//! - [`topology`]: exchange and queue names, shard routing, and the idempotent
//!   declaration every service runs at start-up.
//! - [`auth`]: roles, access tokens, password hashes and the authorization
//!   policy every service asks.
//! - [`audit`]: the audit trail's rows, written by the workers, read by admins.
//! - [`admission`]: places for open connections per network or account.
//! - [`amqp`]: connecting to RabbitMQ and publishing with confirms;
//!   [`brokers`]: the broker's nodes, and moving to another when one goes.
//! - [`backoff`]: exponential backoff with jitter for transient failures.
//! - [`db`]: the PostgreSQL pool and the embedded migrations; [`replica`]:
//!   reading from a replica without losing read-your-writes.
//! - [`cache`]: the Redis view keys and a connection that degrades instead of
//!   failing; [`redis_link`]: one Redis server or a Redis Cluster, alike.
//! - [`reach`]: at start, every store answers within `STARTUP_WAIT_S` or
//!   the service exits naming it.
//! - [`env`]: reading environment variables with defaults and clear errors;
//!   [`config`]: the settings every service shares; [`help`]: the command
//!   lines, `--help` listing the settings from README.md's table.
//! - [`seal`]: the HMAC every broker message carries, and the keys.
//! - [`shutdown`]: turning SIGINT/SIGTERM into a cancellation token;
//!   [`tasks`]: a service's background tasks and their one shutdown path.
//! - [`telemetry`]: log set-up (`RUST_LOG`, `LOG_FORMAT=json`) and process
//!   limits (open files, the allocator returning large blocks).
//! - [`trace`]: W3C `traceparent`, carried by every envelope and message.
//! - [`net`]: the client address per-address limits count by, behind
//!   trusted proxies; [`rate_limit`]: limits shared through Redis.
//! - [`pool_members`]: the package pool's live replicas and the shards each
//!   holds (heartbeats in PostgreSQL).
//! - [`recipients`]: mail to a package's recipient: language, quiet hours,
//!   the one-click unsubscribe link.
//! - [`webhooks`]: integrators' endpoints: their secrets and signatures,
//!   the addresses a delivery may never reach, the body it POSTs;
//!   [`event_kinds`]: the kinds they subscribe to (the topology binds them).
//! - [`metrics`]: a Prometheus registry per service instance; [`endpoints`]
//!   serves it with the health probes where a service has no HTTP API.

pub mod admission;
pub mod amqp;
pub mod arrivals;
pub mod audit;
pub mod auth;
pub mod backoff;
pub mod brokers;
pub mod cache;
pub mod config;
pub mod couriers;
pub mod db;
pub mod domain;
pub mod endpoints;
pub mod env;
pub mod event_kinds;
pub mod fields;
pub mod frames;
pub mod geofences;
pub mod help;
pub mod locations;
pub mod metrics;
pub mod net;
pub mod notices;
pub mod packages;
pub mod pool_members;
pub mod rate_limit;
pub mod reach;
pub mod recipients;
pub mod redis_link;
pub mod replica;
pub mod seal;
pub mod shutdown;
pub mod tasks;
pub mod telemetry;
pub mod topology;
pub mod trace;
pub mod webhooks;
pub mod wire;
