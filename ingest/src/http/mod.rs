//! HTTP plumbing shared by every route.

pub mod fields;
pub mod idempotency;
pub mod request;
pub mod response;

pub use response::{ApiResponse, Reply};
