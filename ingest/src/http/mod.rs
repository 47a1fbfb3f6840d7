//! HTTP plumbing shared by every route: reading requests ([`request`],
//! [`query`], [`fields`], [`idempotency`], [`cursor`]), answering them ([`response`]),
//! and what goes wrong ([`error`], described for the document in
//! [`documented`]).

pub mod cursor;
pub mod documented;
pub mod error;
pub mod fields;
pub mod idempotency;
pub mod query;
pub mod request;
pub mod response;

pub use cursor::Cursor;
pub use error::ApiError;
pub use query::Query;
pub use response::{ApiResponse, Reply};
