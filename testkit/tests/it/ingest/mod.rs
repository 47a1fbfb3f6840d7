//! Ingest: bad input, limits, the route table against the document, the binary.

mod bad_input;
mod binary;
mod degraded;
mod rate_limits;
mod read_your_writes;
mod route_table;
mod schemathesis;
