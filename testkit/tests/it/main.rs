//! Every integration test of the workspace, in one binary (one link instead of
//! one per file). Each test takes its own slice of the real services through
//! `testkit::TestEnv`, so they run in parallel.

mod alloc;
mod audit;
mod auth;
mod bench_smoke;
mod broadcaster_live;
mod broadcaster_recovery;
mod definitions;
mod deliveries;
mod devices;
mod dlq;
mod faults;
mod fuzz;
mod ingest_bad_input;
mod ingest_binary;
mod ingest_degraded;
mod location_worker;
mod locations;
mod measurements;
mod operations;
mod original_flow;
mod package_worker;
mod promises;
mod rate_limits;
mod reliability;
mod role_table;
mod route_table;
mod schemathesis;
mod tracking;
mod trust_accounts;
mod trust_broker;
mod trust_connections;
mod trust_limits;
mod trust_sessions;
mod trust_smaller;
mod websocket_auth;
mod wire_roundtrip;
mod worker_policy;
mod workers_binary;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
