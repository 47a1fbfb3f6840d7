//! Every integration test of the workspace, in one binary (one link instead of
//! one per file), by feature: `accounts` (sign-in, roles, runs, devices),
//! `locations`, `packages` (the flow, the worker, public tracking),
//! `broadcaster`, `ingest` (bad input, limits, the route table, the
//! binary), `operations` (metrics, stats, audit, dead letters), `trust`
//! (what a stranger cannot do), `webhooks` (signed calls to
//! integrators' endpoints), `wire` (envelopes, fuzzing), `faults` (the
//! fault suite, run alone) and `promises` (README promises no feature file
//! tests). Each test takes its own slice of the real services through
//! `testkit::TestEnv`, so they run in parallel.

mod accounts;
mod alloc;
mod arrivals;
mod broadcaster;
mod couriers;
mod faults;
mod geofences;
mod ingest;
mod locations;
mod operations;
mod packages;
mod promises;
mod trust;
mod webhooks;
mod wire;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
