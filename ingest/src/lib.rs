//! DeliverTrack ingest: the HTTP front of the pipeline.
//!
//! Writes are validated here, turned into commands and published to RabbitMQ
//! with publisher confirms; the worker's outcome comes back over direct
//! reply-to. Ingest never writes a database. Reads are served from the Redis
//! view (cache-aside), falling back to PostgreSQL.
//!
//! - [`config`]: settings from the environment.
//! - [`authn`]: who sent a request (bearer tokens), and the policy's answers
//!   as 401, 403 and 404.
//! - [`startup`]: builds the application from config and runs the server with
//!   a connection cap and graceful shutdown (the public port, and the
//!   OsmAnd protocol's own port, `OSMAND_LISTEN`); [`connections`]: one
//!   admitted connection served.
//! - [`credentials`]: device keys and couriers' deliveries remembered
//!   between requests, dropped when the workers say they changed.
//! - [`broker`]: the supervised RabbitMQ link: confirmed publishing and the
//!   reply consumer that hands outcomes to waiting requests.
//! - [`group_commit`]: concurrent location posts sharing one broker message.
//! - [`http`]: request parsing (size, content type, JSON fields, query
//!   strings), JSON responses, and [`http::ApiError`], the error side of
//!   every handler, mapped once to its status and `{"error": ...}` body.
//! - [`layers`]: request ids, CORS and security headers around the router.
//! - [`routes`]: the router and one module per endpoint; `routes::write` is
//!   how every write endpoint publishes its command and answers.
//! - [`rate_limit`]: per-address, per-caller and sign-in limits shared
//!   through Redis (leased in chunks), per instance when Redis is down.
//! - [`metrics`]: what ingest counts, exported at `/metrics`.
//! - [`queues`]: worker queue depths for `/api/v1/stats`, read by one
//!   request at a time ([`recent`]).
//! - [`near`]: package views in ingest's own memory in front of Redis,
//!   dropped by the workers' invalidations as they are announced.
//! - [`reads`]: package reads on the read replica (`DATABASE_READ_URL`)
//!   where it holds what the requester wrote, else on the primary.
//! - [`web`]: the public tracking page and its assets, from `WEB_ROOT`.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers.

pub mod authn;
pub mod broker;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod group_commit;
pub mod http;
pub mod layers;
pub mod metrics;
pub mod near;
pub mod openapi;
pub mod queues;
pub mod rate_limit;
pub mod reads;
pub mod recent;
pub mod routes;
pub mod schemas;
pub mod startup;
pub mod state;
pub mod web;

pub use config::IngestConfig;
pub use startup::Application;
