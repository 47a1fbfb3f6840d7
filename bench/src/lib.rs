//! What `dt-bench` and `dt-sim` share: the fleet simulator ([`sim`]), which
//! is also `dt-bench`'s load generator for courier ingest.

pub mod replay;
pub mod sim;
