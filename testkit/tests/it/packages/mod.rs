//! Packages: the original flow end to end, the package pool, public tracking.

mod original_flow;
pub(crate) mod tracking;
mod worker;
