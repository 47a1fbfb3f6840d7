//! Ingest: bad input, limits, the near cache, the route table against the
//! document, the binary.

mod bad_input;
mod binary;
mod degraded;
mod near_cache;
mod rate_limits;
mod read_your_writes;
mod route_table;
mod schemathesis;
